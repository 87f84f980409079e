// The split as a bar: one segment per arm, as wide as its weight, in the
// arm's colour and pattern, labelled with the arm and its percentage (so
// neither colour nor pattern is the only cue).

import { armStyle, el, share, short } from "./ui.js";

// weights: {commit: weight}; order: the arms in their fixed order (index = style).
export function splitBar(weights, order, compact = false) {
  const total = Object.values(weights).reduce((s, w) => s + (w || 0), 0) || 1;
  const bar = el("div", { class: `split-bar${compact ? " compact" : ""}`, role: "img",
    "aria-label": "Split: " + order.filter((c) => weights[c]).map((c) => `${short(c)} ${share(weights, c)}`).join(", ") });
  order.forEach((commit, i) => {
    const w = weights[commit] || 0;
    if (w <= 0) return;
    const s = armStyle(i);
    const seg = el("span", { class: `seg ${s.cls}`, dataset: { commit, weight: String(w) }, title: `${commit}: ${share(weights, commit)}` },
      el("span", { class: "seg-label" }, `${s.glyph} ${short(commit)} ${share(weights, commit)}`));
    seg.style.flexGrow = String(w / total);
    bar.append(seg);
  });
  return bar;
}
