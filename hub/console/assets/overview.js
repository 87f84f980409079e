// Overview: every app (current release, commits running with their weights
// and instances, the active flight) and the cluster's health (hubs,
// registries, drones, routers) from GET /api/overview.

import * as api from "./api.js";
import { splitBar } from "./split_bar.js";
import { clear, el, fmtDuration, numCell, share, short, table } from "./ui.js";

export function overviewPage() {
  let appsBox, healthBox;
  return {
    title: "Overview",
    mount(main) {
      appsBox = el("section", { "aria-labelledby": "apps-h" });
      healthBox = el("section", { "aria-labelledby": "health-h" });
      main.append(el("h1", {}, "Overview"), appsBox, healthBox);
    },
    load: () => api.get("/api/overview"),
    render(doc) {
      const apps = Array.isArray(doc.apps) ? doc.apps : (doc.apps && doc.apps.apps) || [];
      renderApps(clear(appsBox), apps);
      renderHealth(clear(healthBox), doc.status || {});
    },
  };
}

function renderApps(box, apps) {
  box.append(el("h2", { id: "apps-h" }, `Apps (${apps.length})`));
  if (!apps.length) {
    box.append(el("p", { class: "muted" }, "No apps yet: git push one to the hub, then skyport deploy."));
    return;
  }
  const rows = apps.map((a) => {
    const commits = [...(a.commits || [])].sort((x, y) => (x.commit < y.commit ? -1 : 1));
    const weights = Object.fromEntries(commits.map((c) => [c.commit, c.weight || 0]));
    const cur = a.current;
    return el("tr", { dataset: { app: a.name } },
      el("th", { scope: "row" }, el("a", { href: `#/apps/${encodeURIComponent(a.name)}` }, a.name)),
      el("td", {}, cur ? `${cur.version} (${short(cur.commit)}, ${cur.outcome})` : "-"),
      el("td", {}, el("ul", { class: "plain" }, commits.map((c) =>
        el("li", { dataset: { commit: c.commit } },
          el("code", {}, short(c.commit)), ` ${c.release || ""} · ${share(weights, c.commit)} · ${c.instances_up}/${c.instances_total} up`,
          c.retire_at_unix_ms ? ` · retires in ${fmtDuration((c.retire_at_unix_ms - Date.now()) / 1000)}` : "")))),
      el("td", { class: "bar-cell" }, a.has_route ? splitBar(weights, commits.map((c) => c.commit), true) : "no route"),
      numCell(a.instances_up, `${a.instances_up}/${a.instances_total}`, { field: "instances_up" }),
      el("td", {}, a.active_flight
        ? el("a", { href: `#/flights/${encodeURIComponent(flightName(a.active_flight))}` }, flightName(a.active_flight))
        : "-"));
  });
  box.append(table("Apps", ["App", "Current release", "Commits running", "Weights", "Instances up", "Active flight"], rows,
    { id: "apps-table" }));
}

const flightName = (f) => (typeof f === "string" ? f : f.name || f.id || "");

function renderHealth(box, status) {
  const comps = status.components || [];
  const ok = status.ok !== false;
  box.append(el("h2", { id: "health-h" }, "Cluster health ",
    el("span", { class: `badge ${ok ? "ok" : "bad"}`, id: "health-badge" }, ok ? "all up" : "problems")));
  if (status.problems && status.problems.length)
    box.append(el("ul", { class: "problems", role: "alert" }, status.problems.map((p) => el("li", {}, typeof p === "string" ? p : JSON.stringify(p)))));
  const order = { hub: 0, registry: 1, drone: 2, router: 3 };
  const sorted = [...comps].sort((x, y) => (order[x.kind] ?? 9) - (order[y.kind] ?? 9) || (x.name < y.name ? -1 : 1));
  box.append(table("Components", ["Kind", "Name", "Address", "State", "Last seen", "Version", "Note"], sorted.map((c) =>
    el("tr", { dataset: { kind: c.kind, name: c.name }, class: c.ok ? "" : "row-bad" },
      el("td", {}, c.kind), el("th", { scope: "row" }, c.name), el("td", {}, c.address || "-"),
      el("td", {}, el("span", { class: `badge ${c.ok ? "ok" : "bad"}` }, c.state || (c.ok ? "up" : "down"))),
      el("td", {}, c.last_seen_s === undefined ? "-" : `${fmtDuration(c.last_seen_s)} ago`),
      el("td", { class: "small nowrap" }, c.version || "-"), el("td", {}, c.note || ""))), { id: "health-table" }));
}
