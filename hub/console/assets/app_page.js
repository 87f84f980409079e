// App: its commits side by side with their instances per drone, the split as
// a bar, requests / 5xx / p50 / p99 per arm over time, the deploy history;
// change the split (with a preview of how many users move) and roll back.
// Data: GET /api/apps/APP and GET /api/apps/APP/stats?bucket=hour.

import * as api from "./api.js";
import { armLine, chartBox, drawChart } from "./charts.js";
import { splitBar } from "./split_bar.js";
import {
  armChip, clear, confirmAction, el, fmtDuration, fmtPct, fmtTime, numCell, share, short, showError, table,
} from "./ui.js";

// Every commit the app shows, in one fixed order (sorted), so an arm keeps its colour.
export function armOrder(...lists) {
  return [...new Set(lists.flat().filter(Boolean))].sort();
}

export function appPage(app) {
  const base = `/api/apps/${encodeURIComponent(app)}`;
  const boxes = {};
  let splitForm = null;
  let formCommits = "";
  return {
    title: app,
    mount(main) {
      for (const k of ["summary", "split", "commits", "traffic", "releases", "config"]) boxes[k] = el("section", { id: `sec-${k}` });
      boxes.splitForm = el("div", { id: "split-form-box" });
      main.append(
        el("h1", {}, "App ", el("code", {}, app)),
        el("p", {}, el("a", { href: `#/apps/${encodeURIComponent(app)}/experiment` }, "Experiment statistics →")),
        boxes.summary, boxes.split, boxes.splitForm, boxes.commits, boxes.traffic,
        el("p", { id: "rollback-result", "aria-live": "polite" }), boxes.releases, boxes.config);
      boxes.traffic.append(el("h2", {}, "Traffic per arm (by hour)"), el("p", { id: "traffic-note", class: "muted" }),
        el("div", { class: "chart-grid" },
          chartBox("requests", "Requests"), chartBox("errors", "5xx responses"),
          chartBox("p50", "Latency p50", "(ms)"), chartBox("p99", "Latency p99", "(ms)")));
    },
    async load() {
      const [detail, stats] = await Promise.all([
        api.get(base),
        api.get(`${base}/stats?bucket=hour`).catch((e) => {
          if (e.status === 401) throw e;
          return { error: e.message };
        }),
      ]);
      return { detail, stats };
    },
    render({ detail, stats }) {
      const ps = detail.ps || [];
      const releases = (detail.releases && detail.releases.releases) || [];
      const route = detail.route || {};
      const weights = route.weights || {};
      const order = armOrder(Object.keys(weights), ps.map((p) => p.commit));
      renderSummary(clear(boxes.summary), detail, releases);
      clear(boxes.split).append(el("h2", {}, "Split"),
        Object.keys(weights).length ? splitBar(weights, order) : el("p", { class: "muted" }, "No route: no traffic goes to this app."),
        el("p", { class: "legend" }, order.map((c, i) => armChip(i, short(c)))));
      // A commit the route still names but that no longer runs (its weight moved to 0, then
      // stopped) cannot be in a split: the hub refuses the whole split (409 "not running").
      const running = new Set(ps.filter((p) => p.state === "running").map((p) => p.commit));
      const key = `${order.join(",")}|${[...running].sort().join(",")}`;
      if (!splitForm || (key !== formCommits && !splitForm.dirty())) {
        splitForm = makeSplitForm(base, order, weights, running);
        formCommits = key;
        clear(boxes.splitForm).append(splitForm.node);
      } else {
        splitForm.setCurrent(weights);
      }
      renderCommits(clear(boxes.commits), order, ps, weights);
      renderTraffic(stats, order);
      renderReleases(clear(boxes.releases), base, releases);
      renderConfig(clear(boxes.config), detail.config);
    },
  };
}

function renderSummary(box, detail, releases) {
  const current = releases.find((r) => r.current);
  box.append(el("p", { id: "app-current" }, "Current release: ",
    current ? el("strong", {}, `${current.version} (${short(current.commit)})`) : "none",
    current ? ` · deployed ${fmtTime(current.finished_unix_ms || current.created_unix_ms)} by ${current.who}` : ""));
}

function renderCommits(box, order, ps, weights) {
  box.append(el("h2", {}, "Commits side by side"));
  const grid = el("div", { class: "side-by-side" });
  order.forEach((commit, i) => {
    const rows = ps.filter((p) => p.commit === commit)
      .sort((a, b) => (a.drone + a.role + a.instance < b.drone + b.role + b.instance ? -1 : 1));
    grid.append(el("article", { class: "card commit-card", dataset: { commit } },
      el("h3", {}, armChip(i, short(commit)), " ", el("span", { class: "muted" }, `${share(weights, commit)} of traffic`)),
      rows.length ? table(`Instances of ${short(commit)}`, ["Drone", "Role", "#", "State", "Restarts", "Uptime", "Last error"],
        rows.map((p) => el("tr", { class: p.state === "running" ? "" : "row-bad" },
          el("td", {}, p.drone), el("td", {}, p.role), el("td", {}, String(p.instance)),
          el("td", {}, el("span", { class: `badge ${p.state === "running" ? "ok" : "bad"}` }, p.state)),
          numCell(p.restarts, undefined, { field: "restarts" }), el("td", {}, fmtDuration(p.uptime_s)),
          el("td", { class: "small" }, p.last_error || "")))) : el("p", { class: "muted" }, "No instance running.")));
  });
  box.append(grid);
}

function renderTraffic(stats, order) {
  const note = document.getElementById("traffic-note");
  if (!stats || stats.error) {
    note.textContent = `No traffic statistics: ${stats ? stats.error : "no answer"}`;
    return;
  }
  const buckets = (stats.experiment && stats.experiment.buckets) || [];
  note.textContent = buckets.length ? "" : "No traffic recorded at the hub yet.";
  const labels = buckets.map((b) => (b.bucket || "").replace(/:00:00Z$/, "Z").replace("T", " "));
  const series = (field, scale = 1) => order.map((commit, i) => armLine(i, short(commit), buckets.map((b) => {
    const a = (b.arms || []).find((x) => x.arm === commit);
    return a && a[field] !== null && a[field] !== undefined ? a[field] / scale : null;
  })));
  const opts = { scales: { y: { beginAtZero: true } } };
  drawChart("requests", { type: "line", data: { labels, datasets: series("requests") }, options: opts });
  drawChart("errors", { type: "line", data: { labels, datasets: series("errors_5xx") }, options: opts });
  drawChart("p50", { type: "line", data: { labels, datasets: series("latency_p50_us", 1000) }, options: opts });
  drawChart("p99", { type: "line", data: { labels, datasets: series("latency_p99_us", 1000) }, options: opts });
}

function renderReleases(box, base, releases) {
  box.append(el("h2", {}, "Deploy history"));
  const prev = el("button", { type: "button", id: "rollback-previous", onclick: () => rollback(base, null) }, "Roll back to the previous release");
  box.append(el("div", { class: "actions left" }, prev));
  const rows = [...releases].reverse().map((r) => el("tr", { dataset: { release: r.version }, class: r.current ? "row-current" : "" },
    el("th", { scope: "row" }, r.version, r.current ? " (current)" : ""),
    el("td", {}, el("code", {}, short(r.commit))), el("td", {}, r.description || ""),
    el("td", {}, el("span", { class: `badge ${r.outcome === "succeeded" ? "ok" : r.outcome === "failed" ? "bad" : ""}` }, r.outcome || "")),
    el("td", {}, r.who || ""), el("td", {}, fmtTime(r.created_unix_ms)), el("td", {}, (r.drones || []).join(", ")),
    el("td", { class: "small" }, r.error || ""),
    el("td", {}, r.current || r.outcome !== "succeeded" ? "" :
      el("button", { type: "button", class: "small-btn", dataset: { rollback: r.version }, onclick: () => rollback(base, r.version) },
        `Roll back to ${r.version}`))));
  box.append(table("Releases", ["Release", "Commit", "Description", "Outcome", "Who", "When", "Drones", "Error", "Action"], rows,
    { id: "releases-table" }));
}

async function rollback(base, version) {
  const what = version ? `to ${version}` : "to the previous release";
  if (!(await confirmAction(`Roll back ${what}?`, `Traffic moves ${what} (a weight flip when its commit still runs, else a deploy first).`, "Roll back"))) return;
  try {
    const r = await api.post(`${base}/rollback`, { release: version });
    // `skyport rollback --json`: the new release, the one it went back to, whether it deployed.
    const rel = r && r.release ? `${r.release.version} (${short(r.release.commit)})` : "a new release";
    flash("rollback-result", `Rolled back to ${r && r.target ? r.target : "the previous release"}: ${rel} is current` +
      (r && r.deployed ? ", deployed first" : ", a weight flip") +
      (r && r.retiring && r.retiring.length ? `; ${r.retiring.map(short).join(", ")} retiring` : "") + ".");
    window.skyportRefresh();
  } catch (e) {
    showError(`Rollback refused: ${e.message}`);
  }
}

function renderConfig(box, config) {
  box.append(el("h2", {}, "Config vars ", el("span", { class: "muted" }, "(masked)")));
  const vars = (config && config.vars) || {};
  const keys = Object.keys(vars).sort();
  if (!keys.length) {
    box.append(el("p", { class: "muted" }, `No config vars (version ${config ? config.version : 0}).`));
    return;
  }
  box.append(table("Config vars", ["Name", "Value"], keys.map((k) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, el("code", {}, String(vars[k])))))));
}

// A status line after an action (polite live region).
function flash(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

// The split form: one labelled number per commit; Preview asks the hub how
// many users would move; Apply previews, asks for confirmation, then splits.
function makeSplitForm(base, order, weights, running) {
  let dirty = false;
  const inputs = order.map((commit, i) => {
    const stopped = !running.has(commit);
    const input = el("input", { type: "number", min: "0", max: "1000000", step: "1", id: `w-${commit}`,
      name: commit, value: String(stopped ? 0 : weights[commit] ?? 0), dataset: { commit }, disabled: stopped,
      title: stopped ? "not running: left out of a new split" : undefined });
    input.addEventListener("input", () => {
      dirty = true;
      showShares();
    });
    return el("div", { class: "field" }, el("label", { for: `w-${commit}` }, armChip(i, short(commit)), " weight"), input,
      el("span", { class: "muted share", id: `share-${commit}` }));
  });
  // Weights are relative shares (0..1000000): show each as a percentage of their sum.
  const showShares = () => {
    const w = read();
    for (const c of order) {
      const node = document.getElementById(`share-${c}`);
      if (node) node.textContent = running.has(c) ? ` = ${share(w, c)}` : " not running";
    }
  };
  const preview = el("p", { id: "split-preview", "aria-live": "polite" });
  const result = el("p", { id: "split-result", "aria-live": "polite" });
  // Only running commits: the split leaves the others out (they get no traffic).
  const read = () => Object.fromEntries(order.filter((c) => running.has(c))
    .map((c) => [c, Number(document.getElementById(`w-${c}`).value || 0)]));
  const doPreview = async () => {
    const r = await api.post(`${base}/split/preview`, { weights: read() });
    const f = r && typeof r.moved_users_fraction === "number" ? r.moved_users_fraction : null;
    preview.textContent = f === null ? "Preview: no estimate from the hub." : `Preview: ${fmtPct(f)} of users would change arm.`;
    preview.dataset.moved = f === null ? "" : String(f);
    return f;
  };
  const previewBtn = el("button", { type: "button", id: "split-preview-btn", class: "quiet", onclick: async () => {
    try { await doPreview(); } catch (e) { showError(`Preview refused: ${e.message}`); }
  } }, "Preview");
  const form = el("form", { id: "split-form", class: "card", "aria-describedby": "split-help" },
    el("h2", {}, "Change the split"),
    el("p", { id: "split-help", class: "muted" }, "Relative weights (a commit left at 0 gets no traffic). Users keep their arm unless their slice moves."),
    el("div", { class: "fields" }, inputs), preview, result,
    el("div", { class: "actions left" }, previewBtn, el("button", { type: "submit", id: "split-apply" }, "Apply split…")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const w = read();
    let moved = null;
    try {
      moved = await doPreview();
    } catch (e) {
      showError(`Preview refused: ${e.message}`);
      return;
    }
    const text = Object.entries(w).filter(([, v]) => v > 0).map(([c]) => `${short(c)} ${share(w, c)}`).join(", ");
    const ok = await confirmAction("Change the split?", [el("p", {}, `New weights: ${text}.`),
      el("p", {}, moved === null ? "" : `${fmtPct(moved)} of users will change arm.`)], "Apply split");
    if (!ok) return;
    try {
      const r = await api.post(`${base}/split`, { weights: w });
      result.textContent = `Split applied${r && r.revision ? ` (route revision ${r.revision})` : ""}.`;
      dirty = false;
      window.skyportRefresh();
    } catch (e) {
      result.textContent = "";
      showError(`Split refused: ${e.message}`);
    }
  });
  queueMicrotask(showShares);
  return {
    node: form,
    dirty: () => dirty,
    setCurrent(current) {
      if (dirty) return;
      for (const c of order) {
        const input = document.getElementById(`w-${c}`);
        if (input && !input.disabled && document.activeElement !== input) input.value = String(current[c] ?? 0);
      }
      showShares();
    },
  };
}
