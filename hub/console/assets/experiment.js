// Experiment: per event and bucket (hour/day/week/month), the hub's numbers
// exactly as `skyport stats APP --event E --by B --json` prints them (GET
// /api/apps/APP/stats): users, conversion, mean, the difference of each arm
// from control with its 95% interval and p, and a loud banner on a sample
// ratio mismatch. Nothing is recomputed here: every number cell carries the
// server's value in data-value (tests compare it with the CLI's JSON), and
// the charts plot the same values.
//
// Intervals per arm (conversion_ci, mean_ci), the cumulative lift and the
// sequential p-value path (experiment.cumulative, with --by and an event) are
// drawn when the server's document has them
// (experiment.buckets[].arms[].conversion_ci / mean_ci, experiment.cumulative);
// otherwise the page says so instead of computing them itself.

import * as api from "./api.js";
import { armBand, armLine, chartBox, drawChart, hideBandLegend } from "./charts.js";
import {
  armChip, clear, el, fmtNum, fmtP, fmtPct, numCell, short, table,
} from "./ui.js";

const BUCKETS = ["hour", "day", "week", "month"];
const ALPHA = 0.05;
const MAX_TABLES = 48;

export function experimentPage(app, query) {
  const q = {
    event: query.get("event") ?? "",
    bucket: BUCKETS.includes(query.get("bucket")) ? query.get("bucket") : "day",
    flight: query.get("flight") ?? "",
    control: query.get("control") ?? "",
    since: query.get("since") ?? "",
  };
  const boxes = {};
  return {
    title: `Experiment ${app}`,
    mount(main) {
      for (const k of ["banner", "head", "tables"]) boxes[k] = el("section", { id: `sec-${k}` });
      boxes.notes = el("ul", { id: "chart-notes", class: "muted" });
      main.append(
        el("h1", {}, "Experiment ", el("code", {}, app)),
        el("p", {}, el("a", { href: `#/apps/${encodeURIComponent(app)}` }, "← App")),
        selectors(app, q), boxes.banner, boxes.head,
        el("section", { "aria-label": "Charts" }, el("div", { class: "chart-grid" },
          chartBox("users", "Users per arm", "(exposed, per bucket)"),
          chartBox("conversion", "Conversion rate", "(per bucket, 95% CI band per arm)"),
          chartBox("mean", "Mean value", "(per bucket, 95% CI band per arm)"),
          chartBox("lift", "Lift vs control", "(difference in conversion, 95% CI band)"),
          chartBox("pvalue", "p-value path", `(against alpha ${ALPHA})`)), boxes.notes),
        boxes.tables);
    },
    load() {
      const params = new URLSearchParams({ bucket: q.bucket });
      for (const k of ["event", "flight", "control", "since"]) if (q[k]) params.set(k, q[k]);
      return api.get(`/api/apps/${encodeURIComponent(app)}/stats?${params}`);
    },
    render(doc) {
      const exp = doc.experiment || { buckets: [] };
      const buckets = exp.buckets || [];
      const order = armOrder(exp, buckets);
      renderBanner(clear(boxes.banner), buckets);
      renderHead(clear(boxes.head), exp, order);
      renderCharts(buckets, order, exp, clear(boxes.notes));
      renderTables(clear(boxes.tables), buckets, order, !!exp.event);
    },
  };
}

// Sorted, as on the app page: an arm keeps its colour and marker on every page and chart.
function armOrder(exp, buckets) {
  const names = new Set();
  for (const b of buckets) for (const a of b.arms || []) names.add(a.arm);
  return [...names].sort();
}

function selectors(app, q) {
  const event = el("input", { id: "sel-event", name: "event", type: "text", value: q.event, placeholder: "e.g. purchase" });
  const bucket = el("select", { id: "sel-bucket", name: "bucket" },
    BUCKETS.map((b) => el("option", { value: b, selected: b === q.bucket }, b)));
  const flight = el("input", { id: "sel-flight", name: "flight", type: "text", value: q.flight, placeholder: "outside flights" });
  const control = el("input", { id: "sel-control", name: "control", type: "text", value: q.control, placeholder: "highest weight" });
  const since = el("input", { id: "sel-since", name: "since", type: "text", value: q.since, placeholder: "all (or 24h, 7d, a date)" });
  const form = el("form", { id: "exp-form", class: "card fields" },
    el("div", { class: "field" }, el("label", { for: "sel-event" }, "Event"), event),
    el("div", { class: "field" }, el("label", { for: "sel-bucket" }, "Bucket"), bucket),
    el("div", { class: "field" }, el("label", { for: "sel-flight" }, "Flight"), flight),
    el("div", { class: "field" }, el("label", { for: "sel-control" }, "Control arm"), control),
    el("div", { class: "field" }, el("label", { for: "sel-since" }, "Since"), since),
    el("div", { class: "field" }, el("button", { type: "submit", id: "exp-apply" }, "Show")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (event.value.trim()) p.set("event", event.value.trim());
    p.set("bucket", bucket.value);
    if (flight.value.trim()) p.set("flight", flight.value.trim());
    if (control.value.trim()) p.set("control", control.value.trim());
    if (since.value.trim()) p.set("since", since.value.trim());
    location.hash = `#/apps/${encodeURIComponent(app)}/experiment?${p}`;
  });
  return form;
}

function renderBanner(box, buckets) {
  const bad = buckets.filter((b) => b.srm && b.srm.mismatch);
  box.hidden = bad.length === 0;
  if (!bad.length) return;
  box.append(el("div", { class: "srm-banner", role: "alert", id: "srm-banner" },
    el("strong", {}, "Sample ratio mismatch: do not trust these results."),
    el("p", {}, "Users did not reach the arms in the configured ratio (chi-square p < 0.001):"),
    el("ul", {}, bad.map((b) => el("li", { dataset: { bucket: String(b.bucket_unix_s) } },
      `${b.bucket || "whole range"}: p=${fmtP(b.srm.p)}, users ${(b.srm.users || []).join("/")} vs weights ${(b.srm.weights || []).join("/")}`)))));
}

function renderHead(box, exp, order) {
  box.append(el("p", { id: "exp-head", dataset: { event: exp.event || "", by: exp.by || "", control: exp.control || "" } },
    exp.event ? `Event ${exp.event}` : "Exposures only (choose an event for conversion and mean)",
    exp.flight ? ` · flight ${exp.flight}` : " · outside flights",
    exp.by ? ` · by ${exp.by}` : "",
    exp.control ? ` · control ${short(exp.control)} (${exp.control_source})` : ""),
  el("p", { class: "legend" }, order.map((a, i) => armChip(i, short(a) + (a === exp.control ? " (control)" : "")))));
  if (exp.unattributed && (exp.unattributed.users || exp.unattributed.events))
    box.append(el("p", { class: "muted", id: "unattributed" },
      `Unattributed: ${exp.unattributed.events} events of ${exp.unattributed.users} users with no exposure here.`));
}

const bucketLabel = (b) => (b.bucket || "whole range").replace(/:00:00Z$/, "Z").replace("T", " ").replace(/T00Z$/, "");

function renderCharts(buckets, order, exp, notes) {
  const labels = buckets.map(bucketLabel);
  const pick = (arm, f) => buckets.map((b) => {
    const a = (b.arms || []).find((x) => x.arm === arm);
    const v = a ? f(a) : null;
    return v === undefined ? null : v;
  });
  const has = (field) => buckets.some((b) => (b.arms || []).some((a) => Array.isArray(a[field])));
  const lineOpts = { plugins: hideBandLegend, scales: { y: { beginAtZero: true } } };

  drawChart("users", { type: "line", data: { labels, datasets: order.map((arm, i) => armLine(i, short(arm), pick(arm, (a) => a.users))) },
    options: lineOpts });

  const conv = [];
  const withConvCi = has("conversion_ci");
  order.forEach((arm, i) => {
    conv.push(armLine(i, short(arm), pick(arm, (a) => a.conversion_rate)));
    if (withConvCi) conv.push(...armBand(i, short(arm), pick(arm, (a) => a.conversion_ci && a.conversion_ci[0]), pick(arm, (a) => a.conversion_ci && a.conversion_ci[1])));
  });
  drawChart("conversion", { type: "line", data: { labels, datasets: exp.event ? conv : [] }, options: lineOpts });

  const mean = [];
  const withMeanCi = has("mean_ci");
  order.forEach((arm, i) => {
    mean.push(armLine(i, short(arm), pick(arm, (a) => a.mean)));
    if (withMeanCi) mean.push(...armBand(i, short(arm), pick(arm, (a) => a.mean_ci && a.mean_ci[0]), pick(arm, (a) => a.mean_ci && a.mean_ci[1])));
  });
  drawChart("mean", { type: "line", data: { labels, datasets: exp.event ? mean : [] }, options: lineOpts });

  // Lift: the server's cumulative series when it sends one, else each bucket's own difference.
  const cumulative = Array.isArray(exp.cumulative) ? exp.cumulative : null;
  const series = cumulative || buckets;
  const liftLabels = series.map(bucketLabel);
  const pickS = (arm, f) => series.map((b) => {
    const a = (b.arms || []).find((x) => x.arm === arm);
    const v = a ? f(a) : null;
    return v === undefined ? null : v;
  });
  const lift = [];
  const pvals = [];
  order.forEach((arm, i) => {
    if (arm === exp.control) return;
    const d = (a) => a.delta_conversion;
    lift.push(armLine(i, `${short(arm)} − control`, pickS(arm, (a) => d(a) && d(a).difference)));
    lift.push(...armBand(i, short(arm), pickS(arm, (a) => d(a) && d(a).ci[0]), pickS(arm, (a) => d(a) && d(a).ci[1])));
    pvals.push(armLine(i, short(arm), pickS(arm, (a) => (a.sequential_p !== undefined ? a.sequential_p : d(a) && d(a).p))));
  });
  drawChart("lift", { type: "line", data: { labels: liftLabels, datasets: exp.event ? lift : [] }, options: { plugins: hideBandLegend } });
  if (exp.event)
    pvals.push({ label: `alpha ${ALPHA}`, data: liftLabels.map(() => ALPHA), borderColor: "#555555", borderDash: [4, 4], pointRadius: 0, borderWidth: 1, alpha: true });
  drawChart("pvalue", { type: "line", data: { labels: liftLabels, datasets: exp.event ? pvals : [] },
    options: { scales: { y: { min: 0, max: 1 } } } });

  const say = (t) => notes.append(el("li", {}, t));
  if (!exp.event) say("Conversion, mean, lift and p-values need an event: choose one above.");
  if (exp.event && !withConvCi) say("Per-arm conversion intervals: not in the hub's answer, so no band is drawn.");
  if (exp.event && !withMeanCi) say("Per-arm mean intervals: not in the hub's answer, so no band is drawn.");
  const setCaption = (id, text) => {
    const node = document.querySelector(`#fig-${id} figcaption .muted`);
    if (node) node.textContent = ` ${text}`;
  };
  if (cumulative) {
    setCaption("lift", "(cumulative: all data up to each bucket's end, 95% CI)");
    setCaption("pvalue", `(sequential mSPRT, running minimum, against alpha ${ALPHA})`);
    say("Lift and p-value are cumulative looks: each over all data from the range's start to the bucket's end; "
      + "the p-value is the flight gates' sequential test (mSPRT), valid however often one looks.");
  } else {
    setCaption("lift", "(per bucket, 95% CI)");
    setCaption("pvalue", `(per bucket, z-test, against alpha ${ALPHA})`);
  }
  if (exp.event && !cumulative)
    say("Lift and p-values are per bucket (each bucket on its own, two-proportion z-test): the hub's answer has no cumulative or sequential series.");
}

// One table per bucket, newest first. Each number cell: data-bucket, data-arm,
// data-field (a path into the arm's JSON object, e.g. delta_conversion.ci.0) and data-value.
function renderTables(box, buckets, order, withEvent) {
  if (!buckets.length) {
    box.append(el("p", { class: "muted", id: "no-data" }, "No experiment data on the hub yet."));
    return;
  }
  const cols = [["users", "Users"], ["exposures", "Exposures"], ["requests", "Requests"], ["errors_5xx", "5xx"],
    ["latency_p99_us", "p99 µs"]];
  if (withEvent) cols.push(["converted", "Converted"], ["conversion_rate", "Conv."], ["events", "Events"], ["mean", "Mean"],
    ["stddev", "Stddev"], ["delta_conversion.difference", "ΔConv"], ["delta_conversion.ci.0", "ΔConv CI low"],
    ["delta_conversion.ci.1", "ΔConv CI high"], ["delta_conversion.p", "p"], ["delta_conversion.relative_lift", "Rel. lift"],
    ["delta_mean.difference", "ΔMean"], ["delta_mean.ci.0", "ΔMean CI low"], ["delta_mean.ci.1", "ΔMean CI high"],
    ["delta_mean.p", "p"]);
  const pct = new Set(["conversion_rate", "delta_conversion.difference", "delta_conversion.ci.0", "delta_conversion.ci.1",
    "delta_conversion.relative_lift"]);
  const pee = new Set(["delta_conversion.p", "delta_mean.p"]);
  // Charts show every bucket; tables only the newest MAX_TABLES (an hour bucket over months is thousands).
  const newest = [...buckets].reverse().slice(0, MAX_TABLES);
  if (buckets.length > newest.length)
    box.append(el("p", { class: "muted", id: "tables-left-out" },
      `Tables for the newest ${newest.length} of ${buckets.length} buckets; choose a longer bucket for the rest.`));
  for (const b of newest) {
    const arms = [...(b.arms || [])].sort((x, y) => order.indexOf(x.arm) - order.indexOf(y.arm));
    const rows = arms.map((a) => el("tr", { dataset: { arm: a.arm } },
      el("th", { scope: "row" }, armChip(order.indexOf(a.arm), short(a.arm) + (a.control ? " (control)" : ""))),
      cols.map(([path]) => {
        const v = path.split(".").reduce((o, k) => (o === null || o === undefined ? null : o[k]), a);
        const value = v === undefined ? null : v;
        const text = value === null ? "-" : pct.has(path) ? fmtPct(value) : pee.has(path) ? fmtP(value) : fmtNum(value);
        return numCell(value, text, { bucket: String(b.bucket_unix_s), arm: a.arm, field: path });
      })));
    box.append(el("h2", {}, bucketLabel(b)), table(`Arms, ${bucketLabel(b)}`, ["Arm", ...cols.map(([, h]) => h)], rows,
      { class: "exp-table", dataset: { bucket: String(b.bucket_unix_s) } }));
  }
}
