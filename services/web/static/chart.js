// The learning curve as inline SVG: mAP@20 (y) against cumulative labelled pairs (x),
// one point per round that has the metric, with axes, ticks, labels and a text description.

import { el } from "./ui.js";

const WIDTH = 720;
const HEIGHT = 320;
const MARGIN = { top: 24, right: 24, bottom: 52, left: 64 };

/** About count "nice" ticks (1, 2, 5 x 10^n steps) covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const first = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = first; v <= max + step * 0.5; v += step) ticks.push(Number(v.toFixed(10)));
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/** Points [{round, x, y}] from rounds: x is labelled pairs up to and including the round. */
export function curvePoints(rounds) {
  let labelled = 0;
  const points = [];
  for (const r of [...rounds].sort((a, b) => a.round - b.round)) {
    labelled += r.labelled_pairs || 0;
    const map = r.map_at_k && r.map_at_k["20"];
    if (typeof map === "number") points.push({ round: r.round, x: labelled, y: map });
  }
  return points;
}

function describe(points) {
  if (!points.length) return "No round has an mAP@20 yet.";
  const parts = points.map((p) => `round ${p.round}: ${p.x} labelled pairs, mAP@20 ${p.y.toFixed(3)}`);
  return `${points.length} point${points.length === 1 ? "" : "s"}: ${parts.join("; ")}.`;
}

/** Redraws svg (keeping its <title> and <desc>) for the points. */
export function drawCurve(svg, points) {
  const title = svg.querySelector("title");
  const desc = svg.querySelector("desc");
  desc.textContent = describe(points);
  svg.replaceChildren(title, desc);
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);

  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const xTicks = niceTicks(0, Math.max(1, ...points.map((p) => p.x)), 6);
  const ys = points.map((p) => p.y);
  const yLow = ys.length ? Math.max(0, Math.min(...ys) - 0.05) : 0;
  const yHigh = ys.length ? Math.min(1, Math.max(...ys) + 0.05) : 1;
  const yTicks = niceTicks(yLow, yHigh, 5).filter((t) => t >= 0 && t <= 1);
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const sx = (v) => left + ((v - x0) / (x1 - x0 || 1)) * (right - left);
  const sy = (v) => bottom - ((v - y0) / (y1 - y0 || 1)) * (bottom - top);
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 0.1;
  const yDigits = Math.max(1, Math.ceil(-Math.log10(yStep) - 1e-9));

  const grid = el("g", { class: "chart-grid", "aria-hidden": "true" });
  const axes = el("g", { class: "chart-axes", "aria-hidden": "true" });
  for (const t of yTicks) {
    grid.append(el("line", { x1: left, x2: right, y1: sy(t), y2: sy(t) }));
    axes.append(el("text", { x: left - 8, y: sy(t), class: "tick-y", "dominant-baseline": "middle", "text-anchor": "end" }, t.toFixed(yDigits)));
  }
  for (const t of xTicks) {
    axes.append(el("line", { x1: sx(t), x2: sx(t), y1: bottom, y2: bottom + 5, class: "tick" }));
    axes.append(el("text", { x: sx(t), y: bottom + 20, class: "tick-x", "text-anchor": "middle" }, String(t)));
  }
  axes.append(
    el("line", { x1: left, x2: right, y1: bottom, y2: bottom, class: "axis" }),
    el("line", { x1: left, x2: left, y1: top, y2: bottom, class: "axis" }),
    el("text", { x: (left + right) / 2, y: HEIGHT - 10, class: "axis-label", "text-anchor": "middle" }, "labelled pairs (all rounds so far)"),
    el("text", { x: 16, y: (top + bottom) / 2, class: "axis-label", "text-anchor": "middle", transform: `rotate(-90 16 ${(top + bottom) / 2})` }, "mAP@20"),
  );
  svg.append(grid, axes);

  if (!points.length) {
    svg.append(el("text", { x: (left + right) / 2, y: (top + bottom) / 2, class: "chart-empty", "text-anchor": "middle" }, "No round has an mAP@20 yet"));
    return;
  }
  const data = el("g", { class: "chart-data", "aria-hidden": "true" });
  data.append(el("polyline", { class: "chart-line", points: points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ") }));
  for (const p of points) {
    data.append(
      el("circle", { class: "chart-point", cx: sx(p.x), cy: sy(p.y), r: 5, "data-round": p.round },
        el("title", {}, `Round ${p.round}: ${p.x} labelled pairs, mAP@20 ${p.y.toFixed(3)}`)),
      el("text", { class: "chart-value", x: sx(p.x), y: sy(p.y) - 10, "text-anchor": "middle" }, p.y.toFixed(3)),
    );
  }
  svg.append(data);
}
