// DOM helpers shared by the pages: element building (text only: never
// innerHTML with data), formatting, the confirmation dialog, the error banner
// and the arms' colours and markers.

// el("td", {class: "num", dataset: {field: "users"}}, "12") -> <td class="num" data-field="users">12</td>
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// A table in a horizontally scrolling wrapper (small screens scroll the table, not the page).
export function table(caption, head, rows, attrs = {}) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    el("table", attrs,
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
}

export const short = (commit) => (commit || "").slice(0, 8);

export function fmtTime(ms) {
  if (!ms) return "-";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "-";
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function fmtNum(x, digits = 4) {
  if (x === null || x === undefined) return "-";
  if (!isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(digits)).toString();
}

// A weight as a share of the total ("12.5%"): route weights are relative (a flight writes millionths).
export function share(weights, key) {
  const total = Object.values(weights).reduce((s, w) => s + (Number(w) || 0), 0);
  if (!total) return "0%";
  const pct = (100 * (Number(weights[key]) || 0)) / total;
  return `${Number.isInteger(pct) ? pct : pct.toFixed(1)}%`;
}

export const fmtPct = (x, digits = 2) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(digits)}%`);

export function fmtP(p) {
  if (p === null || p === undefined) return "-";
  if (p >= 0.001) return p.toFixed(3);
  return p > 0 ? p.toExponential(1) : "0";
}

// A number cell whose exact value (as the server sent it) is in data-value,
// so tests compare it with `skyport stats --json` without rounding.
export function numCell(value, text, data = {}) {
  const raw = value === null || value === undefined ? "null" : JSON.stringify(value);
  return el("td", { class: "num", dataset: { ...data, value: raw } }, text ?? fmtNum(value));
}

// ---- the error banner: the server's message, as it said it

const banner = () => document.getElementById("error");

export function showError(message) {
  const b = banner();
  clear(b);
  b.append(el("span", {}, message), " ",
    el("button", { type: "button", class: "quiet", onclick: () => hideError() }, "Dismiss"));
  b.hidden = false;
}

export function hideError() {
  banner().hidden = true;
}

// ---- the confirmation dialog every action goes through

// Resolves true when the user confirms. `body` is a string or nodes.
export function confirmAction(title, body, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  const holder = clear(document.getElementById("confirm-body"));
  holder.append(...(Array.isArray(body) ? body : [el("p", {}, body)]));
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "cancel";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// ---- arms: Okabe-Ito colours (safe for the common colour blindnesses), and a
// marker and a dash pattern per arm so colour is never the only cue.

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"];
export const MARKERS = ["circle", "rect", "triangle", "rectRot", "star", "crossRot", "cross", "rectRounded"];
export const MARKER_GLYPHS = ["●", "■", "▲", "◆", "✶", "✕", "✚", "▢"];
export const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [1, 3], [4, 4, 1, 4], [10, 2]];

// Arms keep their index (hence colour, marker, pattern) on every page: the
// order is the sorted list of names/commits the caller passes, control first.
export function armStyle(index) {
  const i = index % PALETTE.length;
  return { color: PALETTE[i], marker: MARKERS[i], glyph: MARKER_GLYPHS[i], dash: DASHES[i], cls: `arm-${i}` };
}

// A legend chip: colour swatch with the arm's pattern and marker glyph, then its label.
export function armChip(index, label) {
  const s = armStyle(index);
  return el("span", { class: `chip ${s.cls}` }, el("span", { class: "swatch", "aria-hidden": "true" }, s.glyph), label);
}
