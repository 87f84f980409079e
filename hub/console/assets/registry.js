// Registry: the port table (`skyport registry show --json`: commit -> role ->
// entries; with the wide form also app, instance, drone, pid, health, id,
// age), one row per entry, filterable by any column's text.

import * as api from "./api.js";
import { clear, el, table } from "./ui.js";

// Rows drawn at most (a registry may hold 100,000 entries; the count says how many matched).
const MAX_ROWS = 1000;
const COLUMNS = ["app", "commit", "role", "host", "port", "instance", "drone", "pid", "health", "id", "age"];

// {commit: {role: [entry]}} -> [{commit, role, ...entry}]; non-object keys (answered_by) are skipped.
export function portRows(doc) {
  const rows = [];
  for (const [commit, roles] of Object.entries(doc || {})) {
    if (!roles || typeof roles !== "object" || Array.isArray(roles)) continue;
    for (const [role, entries] of Object.entries(roles)) {
      if (!Array.isArray(entries)) continue;
      for (const e of entries) rows.push({ commit, role, ...e });
    }
  }
  return rows.sort((a, b) => (a.commit + a.role + a.host + a.port < b.commit + b.role + b.host + b.port ? -1 : 1));
}

export function registryPage(query) {
  let box;
  let rows = [];
  const filter = el("input", { id: "registry-filter", type: "search", name: "filter", value: query.get("filter") || "",
    placeholder: "commit, role, host, port…", "aria-controls": "registry-table" });
  const count = el("p", { id: "registry-count", "aria-live": "polite", class: "muted" });
  const draw = () => {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = rows.filter((r) => {
      const text = COLUMNS.map((c) => (r[c] === undefined ? "" : String(r[c]))).join(" ").toLowerCase();
      return words.every((w) => text.includes(w));
    });
    const cols = COLUMNS.filter((c) => rows.some((r) => r[c] !== undefined));
    const drawn = shown.slice(0, MAX_ROWS);
    count.textContent = `${shown.length} of ${rows.length} entries` +
      (drawn.length < shown.length ? `; the first ${drawn.length} shown: filter to narrow` : "");
    count.dataset.shown = String(shown.length);
    clear(box).append(table("Port table", cols, drawn.map((r) => el("tr", { dataset: { commit: r.commit, role: r.role } },
      cols.map((c) => el("td", { class: c === "port" || c === "pid" ? "num" : "" }, r[c] === undefined ? "" : String(r[c]))))),
    { id: "registry-table" }));
  };
  filter.addEventListener("input", draw);
  return {
    title: "Registry",
    mount(main) {
      box = el("section", { id: "registry-box" });
      main.append(el("h1", {}, "Registry"),
        el("div", { class: "card fields" }, el("div", { class: "field" }, el("label", { for: "registry-filter" }, "Filter"), filter)),
        count, box);
    },
    load: () => api.get("/api/registry"),
    render(doc) {
      rows = portRows(doc);
      draw();
    },
  };
}
