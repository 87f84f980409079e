// The console's shell: hash routes -> pages, the session (login page on 401),
// and live refresh (server-sent events from /api/events; polling every 1.5 s
// while they are down). A page is {title, mount(main), load(), render(data)}:
// mount builds what stays (forms keep what the user typed), render replaces
// the data parts after each load.

import * as api from "./api.js";
import { dropCharts } from "./charts.js";
import { clear, hideError, showError } from "./ui.js";
import { loginPage } from "./login.js";
import { overviewPage } from "./overview.js";
import { appPage } from "./app_page.js";
import { flightsPage, flightPage } from "./flight.js";
import { experimentPage } from "./experiment.js";
import { registryPage } from "./registry.js";

const POLL_MS = 1500;
const MIN_GAP_MS = 400; // refreshes closer than this are merged

const main = document.getElementById("main");
let current = null;       // the page shown
let currentKey = "";
let generation = 0;       // bumps on every navigation: late answers of a left page are dropped
let inflight = false;
let again = false;
let lastRefresh = 0;
let events = null;
let pollTimer = null;

// "#/apps/webapp/experiment?event=purchase" -> {parts: ["apps","webapp","experiment"], query}
// A malformed %-escape in a link ("#/apps/%E0%A4%A") threw a URIError at every navigation:
// the part is kept as typed (the API answers 400 for a bad name).
function decodeOr(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeOr);
  return { parts, query: new URLSearchParams(qs || ""), key: hash };
}

function pageFor({ parts, query }) {
  const [a, b, c] = parts;
  if (a === undefined) return ["overview", overviewPage()];
  if (a === "apps" && b && c === "experiment") return ["experiment", experimentPage(b, query)];
  if (a === "apps" && b && !c) return ["app", appPage(b)];
  if (a === "flights" && !b) return ["flights", flightsPage()];
  if (a === "flights" && b && !c) return ["flight", flightPage(b)];
  if (a === "registry" && !b) return ["registry", registryPage(query)];
  if (a === "login") return ["login", null];
  return ["notfound", null];
}

function setNav(name) {
  for (const a of document.querySelectorAll("#nav a")) {
    const on = a.dataset.nav === name || (name === "flight" && a.dataset.nav === "flights");
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function showLogin() {
  stopLive();
  current = null;
  currentKey = "login";
  document.getElementById("logout").hidden = true;
  setNav("");
  dropCharts();
  const wanted = parseHash();
  loginPage(main, async () => {
    document.getElementById("logout").hidden = false;
    if (wanted.parts[0] === "login" || location.hash === "") location.hash = "#/";
    await navigate(true);
  });
  document.body.dataset.page = "login";
}

async function navigate(force = false) {
  const route = parseHash();
  if (!force && route.key === currentKey) return;
  if (!api.hasSession()) {
    showLogin();
    return;
  }
  hideError();
  const [name, page] = pageFor(route);
  generation++;
  currentKey = route.key;
  setNav(name);
  clear(main);
  dropCharts();
  document.body.dataset.page = name;
  delete document.body.dataset.loaded;
  if (name === "login") {
    location.hash = "#/";
    return;
  }
  if (!page) {
    current = null;
    main.append(Object.assign(document.createElement("h1"), { textContent: "Not found" }));
    return;
  }
  current = { name, page, rendered: 0 };
  document.title = `${page.title} · Skyport console`;
  page.mount(main);
  main.focus({ preventScroll: true });
  startLive();
  await refresh();
}

// Loads the current page's data and renders it; one load at a time (a
// request for another while one runs is kept and done once it ends).
async function refresh() {
  if (!current) return;
  if (inflight) {
    again = true;
    return;
  }
  inflight = true;
  const gen = generation;
  const cur = current;
  lastRefresh = performance.now();
  try {
    const data = await cur.page.load();
    if (gen !== generation) return;
    const focus = focusKey(document.activeElement);
    cur.page.render(data);
    restoreFocus(focus);
    cur.rendered++;
    if (cur.rendered === 1) performance.mark(`skyport:data:${cur.name}`);
    document.body.dataset.loaded = String(cur.rendered);
  } catch (e) {
    if (gen === generation && e.status !== 401) showError(e.message);
  } finally {
    inflight = false;
    if (again) {
      again = false;
      setTimeout(refresh, MIN_GAP_MS);
    }
  }
}

// A re-render replaces the data parts: a keyboard user's focus on a button or
// link there moves to its replacement (same id, rollback target or href).
function focusKey(node) {
  if (!node || node === document.body || !main.contains(node)) return null;
  if (node.id) return `#${CSS.escape(node.id)}`;
  if (node.dataset.rollback) return `[data-rollback="${CSS.escape(node.dataset.rollback)}"]`;
  if (node.tagName === "A" && node.getAttribute("href")) return `a[href="${CSS.escape(node.getAttribute("href"))}"]`;
  return null;
}

function restoreFocus(key) {
  if (!key || (document.activeElement && document.activeElement !== document.body)) return;
  const again = main.querySelector(key);
  if (again) again.focus({ preventScroll: true });
}

let pending = null;
function scheduleRefresh() {
  if (document.hidden || pending) return;
  const wait = Math.max(0, MIN_GAP_MS - (performance.now() - lastRefresh));
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, wait);
}

// Exposed to the pages: after an action, show its effect at once.
window.skyportRefresh = () => refresh();

function setLive(text) {
  document.getElementById("live").textContent = text;
  document.body.dataset.live = text;
}

function startPolling() {
  if (pollTimer) return;
  setLive("polling");
  pollTimer = setInterval(scheduleRefresh, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function startLive() {
  if (events) return;
  if (typeof EventSource === "undefined") {
    startPolling();
    return;
  }
  events = new EventSource("/api/events");
  events.onopen = () => {
    stopPolling();
    setLive("live");
  };
  const onEvent = () => scheduleRefresh();
  events.onmessage = onEvent;
  events.addEventListener("tick", onEvent);
  // The session ended (logout elsewhere, expiry): the stream closes; show the login page.
  events.addEventListener("logout", () => showLogin());
  // Down (hub restarted, stream limit, session gone): poll; EventSource retries by itself.
  events.onerror = () => {
    startPolling();
    if (events && events.readyState === EventSource.CLOSED) {
      events = null;
      setTimeout(() => current && startLive(), 3000);
    }
  };
}

function stopLive() {
  if (events) events.close();
  events = null;
  stopPolling();
  setLive("offline");
}

api.setUnauthorizedHandler(() => showLogin());

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api.logout();
  } catch (e) {
    showError(e.message);
  }
  showLogin();
});

// The skip link moves the focus, not the route (its href="#main" would be read as a page).
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", () => navigate());
// Leaving the page (or going into the back/forward cache): close the stream at once, or the
// browser keeps its socket and, at six per host, a later page load waits for one.
window.addEventListener("pagehide", () => stopLive());
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted && current) startLive();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) scheduleRefresh();
});

async function boot() {
  try {
    if (await api.resumeSession()) {
      document.getElementById("logout").hidden = false;
      await navigate(true);
      return;
    }
  } catch (e) {
    showError(e.message);
  }
  showLogin();
}

boot();
