// Chart.js (global `Chart`, served by the hub at /assets/chart.js) with the
// console's defaults: no animation, and every chart reachable as
// window.skyportCharts[id] so tests read chart.data instead of pixels.

import { armStyle, el } from "./ui.js";

window.skyportCharts = window.skyportCharts || {};

// Alpha suffix for a #RRGGBB colour.
const tint = (hex, alpha) => hex + Math.round(alpha * 255).toString(16).padStart(2, "0");

// A canvas inside a sized box, with a heading; the chart is made by update().
export function chartBox(id, title, description) {
  return el("figure", { class: "chart", id: `fig-${id}` },
    el("figcaption", {}, el("strong", {}, title), description ? el("span", { class: "muted" }, ` ${description}`) : null),
    el("div", { class: "canvas-box" }, el("canvas", { id: `chart-${id}`, role: "img", "aria-label": title })));
}

// Creates the chart the first time, then replaces its data in place.
export function drawChart(id, config) {
  const canvas = document.getElementById(`chart-${id}`);
  if (!canvas || typeof Chart === "undefined") return null;
  const existing = window.skyportCharts[id];
  if (existing && existing.canvas === canvas) {
    existing.data = config.data;
    existing.options = withDefaults(config.options);
    existing.update("none");
    return existing;
  }
  if (existing) existing.destroy();
  const chart = new Chart(canvas, { ...config, options: withDefaults(config.options) });
  window.skyportCharts[id] = chart;
  return chart;
}

// Charts of a page that is left: destroyed and forgotten.
export function dropCharts() {
  for (const [id, chart] of Object.entries(window.skyportCharts)) {
    if (!document.body.contains(chart.canvas)) {
      chart.destroy();
      delete window.skyportCharts[id];
    }
  }
}

function withDefaults(options = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    ...options,
    plugins: { legend: { labels: { usePointStyle: true } }, ...(options.plugins || {}) },
    animation: false,
  };
}

// One line per arm: colour, marker and dash pattern from the arm's index.
export function armLine(index, label, data, extra = {}) {
  const s = armStyle(index);
  return {
    type: "line", order: 0, label, data, borderColor: s.color, backgroundColor: s.color, pointStyle: s.marker, pointRadius: 5,
    borderDash: s.dash, borderWidth: 2, spanGaps: true, ...extra,
  };
}

// An arm's 95% intervals as floating bars [low, high] behind its line (a
// mixed chart): visible with one bucket as with many. Marked `band` so the
// legend and the tests can tell them from the estimates.
export function armBand(index, label, lows, highs) {
  const s = armStyle(index);
  const data = lows.map((lo, i) => (lo === null || lo === undefined || highs[i] === null || highs[i] === undefined ? null : [lo, highs[i]]));
  return [{
    type: "bar", label: `${label} 95% CI`, data, band: true, backgroundColor: tint(s.color, 0.25),
    borderColor: s.color, borderWidth: 1, barPercentage: 0.35, categoryPercentage: 0.9, grouped: true, order: 1,
  }];
}

// Legend entries for bands are noise: hide them.
export const hideBandLegend = { legend: { labels: { usePointStyle: true, filter: (item, data) => !data.datasets[item.datasetIndex].band } } };
