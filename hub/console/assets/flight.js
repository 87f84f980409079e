// The Flight Log. Flights: every flight (GET /api/flights?all=1) and a form
// to start one (POST /api/flights). Flight: the spec, the plan with the
// current step highlighted, the timeline, weights over time, every gate look
// with its numbers and verdict, pings, the endBy countdown, and kill with a
// reason (GET /api/flights/NAME, POST /api/flights/NAME/kill).

import * as api from "./api.js";
import { armLine, chartBox, drawChart } from "./charts.js";
import {
  armChip, clear, confirmAction, el, fmtDuration, fmtTime, numCell, short, showError, table,
} from "./ui.js";

const ACTIVE = new Set(["running", "starting", "pending"]);

export function flightsPage() {
  let listBox;
  return {
    title: "Flights",
    mount(main) {
      listBox = el("section", { id: "flights-list" });
      main.append(el("h1", {}, "Flights"), listBox, startForm());
    },
    load: () => api.get("/api/flights?all=1"),
    render(doc) {
      const flights = Array.isArray(doc) ? doc : doc.flights || [];
      clear(listBox).append(el("h2", {}, `Flights (${flights.length})`));
      if (!flights.length) {
        listBox.append(el("p", { class: "muted" }, "No flight yet."));
        return;
      }
      const sorted = [...flights].sort((a, b) => (b.started_unix_ms || 0) - (a.started_unix_ms || 0));
      listBox.append(table("Flights", ["Name", "App", "State", "Step", "Started", "Ended", "Reason"], sorted.map((f) =>
        el("tr", { dataset: { flight: f.name, state: f.state } },
          el("th", { scope: "row" }, el("a", { href: `#/flights/${encodeURIComponent(f.name)}` }, f.name)),
          el("td", {}, el("a", { href: `#/apps/${encodeURIComponent(f.app)}` }, f.app)),
          el("td", {}, stateBadge(f.state)), el("td", {}, f.step_text || f.step || "-"),
          el("td", {}, fmtTime(f.started_unix_ms)), el("td", {}, fmtTime(f.ended_unix_ms)),
          el("td", { class: "small" }, f.reason || ""))), { id: "flights-table" }));
    },
  };
}

function stateBadge(state) {
  const cls = ACTIVE.has(state) ? "live-badge" : state === "succeeded" || state === "promoted" ? "ok" : "bad";
  return el("span", { class: `badge ${cls}`, dataset: { state } }, state || "?");
}

function startForm() {
  const area = el("textarea", { id: "flight-spec", name: "spec", rows: "12", spellcheck: "false",
    "aria-describedby": "flight-spec-help" });
  const form = el("form", { id: "flight-start-form", class: "card" },
    el("h2", {}, "Start a flight"),
    el("label", { for: "flight-spec" }, "Flight spec (JSON, as for skyport flight start)"),
    el("p", { id: "flight-spec-help", class: "muted" }, "name, app, arms, control, flightplan … (docs/flights.md)."),
    area, el("div", { class: "actions left" }, el("button", { type: "submit", id: "flight-start" }, "Start flight…")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let spec;
    try {
      spec = JSON.parse(area.value);
    } catch (e) {
      showError(`The spec is not JSON: ${e.message}`);
      return;
    }
    if (!(await confirmAction("Start this flight?",
      `${spec.name || "(no name)"} on ${spec.app || "(no app)"}: the hub's control tower runs its plan at once.`, "Start flight"))) return;
    try {
      const r = await api.post("/api/flights", spec);
      location.hash = `#/flights/${encodeURIComponent((r && r.name) || spec.name)}`;
    } catch (e) {
      showError(`Flight refused: ${e.message}`);
    }
  });
  return form;
}

export function flightPage(name) {
  const boxes = {};
  let countdown = null;
  let endBy = 0;
  return {
    title: `Flight ${name}`,
    mount(main) {
      for (const k of ["head", "arms", "plan", "gates", "pings", "timeline", "spec"]) boxes[k] = el("section", { id: `sec-${k}` });
      const endByNode = el("p", { id: "endby", "aria-live": "off" });
      const tick = () => {
        if (!document.body.contains(endByNode)) {
          clearInterval(countdown);
          return;
        }
        endByNode.textContent = endBy ? `endBy ${fmtTime(endBy)}: ${endBy > Date.now() ? `${fmtDuration((endBy - Date.now()) / 1000)} left` : "passed"}` : "No endBy.";
        endByNode.dataset.endBy = String(endBy);
      };
      countdown = setInterval(tick, 1000);
      main.append(el("h1", {}, "Flight ", el("code", {}, name)), boxes.head, endByNode, killForm(name),
        boxes.arms, el("section", {}, el("h2", {}, "Weights over time"), chartBox("weights", "Weight per arm", "(%)")),
        boxes.plan, boxes.gates, boxes.pings, boxes.timeline, boxes.spec);
      boxes.tick = tick;
    },
    load: () => api.get(`/api/flights/${encodeURIComponent(name)}`),
    render(doc) {
      const st = doc.status || {};
      const log = Array.isArray(doc.log) ? doc.log : (doc.log && doc.log.entries) || [];
      endBy = st.end_by_unix_ms || 0;
      boxes.tick();
      const active = ACTIVE.has(st.state);
      const kill = document.getElementById("flight-kill");
      if (kill) kill.disabled = !active;
      clear(boxes.head).append(el("p", { id: "flight-state", dataset: { state: st.state || "", step: st.step || "" } },
        stateBadge(st.state), " ",
        st.app ? el("a", { href: `#/apps/${encodeURIComponent(st.app)}` }, st.app) : "", " · ",
        st.step_text ? `step ${st.step} of ${st.steps_total}: ${st.step_text}` : `${st.steps_total || 0} steps`,
        ` · started ${fmtTime(st.started_unix_ms)}`, st.ended_unix_ms ? ` · ended ${fmtTime(st.ended_unix_ms)}` : "",
        st.reason ? el("strong", { class: "reason" }, ` · ${st.reason}`) : "",
        " · ", el("a", { href: `#/apps/${encodeURIComponent(st.app || "")}/experiment?flight=${encodeURIComponent(name)}` }, "experiment stats →")));
      const arms = st.arms || [];
      const order = arms.map((a) => a.name);
      renderArms(clear(boxes.arms), arms);
      renderPlan(clear(boxes.plan), (st.spec && st.spec.flightplan) || [], st.step, active);
      renderWeights(order, arms, log, st);
      renderGates(clear(boxes.gates), log);
      renderPings(clear(boxes.pings), log);
      renderTimeline(clear(boxes.timeline), log, doc.log_older_left_out);
      clear(boxes.spec).append(el("h2", {}, "Spec"), el("pre", { id: "flight-spec-view", tabindex: "0" }, JSON.stringify(st.spec || {}, null, 2)));
    },
  };
}

function killForm(name) {
  const reason = el("input", { id: "kill-reason", name: "reason", type: "text", required: true, maxlength: "500",
    placeholder: "why (goes to the flight log)" });
  const form = el("form", { id: "kill-form", class: "card inline" },
    el("label", { for: "kill-reason" }, "Kill reason"), reason,
    el("button", { type: "submit", id: "flight-kill", class: "danger" }, "Kill flight…"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      reason.focus();
      return;
    }
    if (!(await confirmAction(`Kill ${name}?`, `Everyone goes back to control at once and what the flight started stops. Reason: ${why}`, "Kill flight"))) return;
    try {
      await api.post(`/api/flights/${encodeURIComponent(name)}/kill`, { reason: why });
      reason.value = "";
      window.skyportRefresh();
    } catch (e) {
      showError(`Kill refused: ${e.message}`);
    }
  });
  return form;
}

function renderArms(box, arms) {
  box.append(el("h2", {}, "Arms"), table("Arms", ["Arm", "Commit", "Weight", "Users enrolled"], arms.map((a, i) =>
    el("tr", { dataset: { arm: a.name } },
      el("th", { scope: "row" }, armChip(i, a.name + (a.control ? " (control)" : ""))),
      el("td", {}, el("code", {}, short(a.commit))),
      numCell(a.weight, `${a.weight}%`, { field: "weight" }), numCell(a.users_enrolled, undefined, { field: "users_enrolled" }))),
  { id: "arms-table" }));
}

function stepText(s) {
  if (!s || typeof s !== "object") return String(s);
  const { action, ...rest } = s;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return `${action} ${args}`.trim();
}

function renderPlan(box, plan, step, active) {
  const cur = active && step ? parseInt(String(step), 10) : 0;
  box.append(el("h2", {}, "Plan"));
  box.append(el("ol", { class: "plan", id: "plan" }, plan.map((s, i) => {
    const n = i + 1;
    const cls = n === cur ? "current" : cur && n < cur ? "done" : "";
    return el("li", { class: cls, dataset: { step: String(n) }, "aria-current": n === cur ? "step" : false },
      Array.isArray(s) ? el("span", {}, "in parallel:", el("ul", {}, s.map((p) => el("li", {}, stepText(p))))) : stepText(s),
      n === cur ? el("span", { class: "badge live-badge" }, "now") : null);
  })));
}

// Weights from the log's weight entries (treatments; control takes the rest),
// then the arms' weights now (status) as the last point.
function renderWeights(order, arms, log, st) {
  const control = (arms.find((a) => a.control) || {}).name;
  const current = Object.fromEntries(order.map((n) => [n, n === control ? 100 : 0]));
  const points = order.map(() => []);
  const push = (t) => order.forEach((n, i) => points[i].push({ x: t, y: current[n] }));
  if (st.started_unix_ms) push(st.started_unix_ms);
  for (const e of log) {
    if (e.kind !== "weight" || !e.data || typeof e.data !== "object") continue;
    for (const [arm, w] of Object.entries(e.data)) if (arm in current) current[arm] = w;
    if (control) current[control] = 100 - order.filter((n) => n !== control).reduce((s, n) => s + current[n], 0);
    push(e.unix_ms);
  }
  for (const a of arms) current[a.name] = a.weight;
  push(st.ended_unix_ms || Date.now());
  drawChart("weights", {
    type: "line",
    data: { datasets: order.map((n, i) => armLine(i, n, points[i], { stepped: "before" })) },
    options: {
      parsing: true,
      scales: {
        x: { type: "linear", ticks: { callback: (v) => new Date(v).toISOString().slice(11, 19) } },
        y: { min: 0, max: 100 },
      },
    },
  });
}

// "control: errors=0 rate=0 requests=0"
function numbers(data) {
  if (!data || typeof data !== "object") return [];
  return Object.entries(data).filter(([k]) => !["verdict", "metric"].includes(k)).map(([k, v]) =>
    el("div", { dataset: { key: k } }, el("strong", {}, `${k}: `),
      v && typeof v === "object" ? Object.entries(v).map(([a, b]) => `${a}=${typeof b === "object" ? JSON.stringify(b) : b}`).join(" ") : String(v)));
}

function renderGates(box, log) {
  const looks = log.filter((e) => e.kind === "gate");
  box.append(el("h2", {}, `Gate looks (${looks.length})`));
  if (!looks.length) {
    box.append(el("p", { class: "muted" }, "No gate has looked yet."));
    return;
  }
  box.append(table("Gate looks", ["Time", "Step", "Metric", "Verdict", "Numbers", "Message"], looks.map((e) => {
    const d = e.data || {};
    return el("tr", { dataset: { verdict: d.verdict || "" } },
      el("td", {}, fmtTime(e.unix_ms)), el("td", {}, e.step), el("td", {}, d.metric || ""),
      el("td", {}, el("span", { class: `badge ${d.verdict === "pass" ? "ok" : d.verdict === "fail" ? "bad" : ""}` }, d.verdict || "")),
      el("td", { class: "small" }, numbers(d)), el("td", { class: "small" }, e.message));
  }), { id: "gates-table" }));
}

function renderPings(box, log) {
  const pings = log.filter((e) => e.kind === "ping");
  box.append(el("h2", {}, `Pings (${pings.length})`));
  if (pings.length)
    box.append(table("Pings", ["Time", "Step", "Message"], pings.map((e) =>
      el("tr", {}, el("td", {}, fmtTime(e.unix_ms)), el("td", {}, e.step), el("td", { class: "small" }, e.message)))));
}

// Timeline rows drawn at most: the newest (the hub keeps a flight's newest 3 MiB of log).
const MAX_TIMELINE = 500;

function renderTimeline(box, log, olderLeftOut) {
  const drawn = log.slice(-MAX_TIMELINE);
  const left = (olderLeftOut || 0) + (log.length - drawn.length);
  box.append(el("h2", {}, `Timeline (${log.length} entries)`));
  if (left > 0) box.append(el("p", { class: "muted", id: "timeline-left-out" }, `${left} older entries are not shown.`));
  box.append(table("Timeline", ["Time", "Step", "Kind", "Message"], drawn.map((e) =>
    el("tr", { dataset: { kind: e.kind, step: e.step || "" } },
      el("td", {}, e.time || fmtTime(e.unix_ms)), el("td", {}, e.step || ""), el("td", {}, e.kind),
      el("td", { class: "small" }, e.message))), { id: "timeline-table" }));
}
