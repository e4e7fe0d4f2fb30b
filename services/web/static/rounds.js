// Rounds: the history table, the learning curve, the current round and serving index, kept
// live by the /api/v1/rounds/events stream (or polling when that fails); operators can start
// a round and close a collecting one early.

import { api } from "./api.js";
import { curvePoints, drawCurve } from "./chart.js";
import { announce, clearError, el, every, formatSeconds, formatTime, showError } from "./ui.js";

const POLL_MS = 3000;
const FINISHED = new Set(["done", "failed"]);

const $ = (id) => document.getElementById(id);
const tbody = $("rounds-table").querySelector("tbody");
const curve = $("learning-curve");
const current = $("current-round");
const serving = $("serving-index");
const liveState = $("live-state");
const startForm = $("start-round-form");
const closeButton = $("close-round");
const hint = $("operator-hint");

let latest = null; // the newest round, or null
let lastCurve = "";
let lastCurrent = "";
let lastState = "";
let stopPolling = null;

const fmtFraction = (f) => (typeof f === "number" ? f.toFixed(2) : "—");
const fmtMap = (r) => (r.map_at_k && typeof r.map_at_k["20"] === "number" ? r.map_at_k["20"].toFixed(3) : "—");

function stateBadge(state) {
  return el("span", { class: `badge state-${state}` }, state);
}

function row(r) {
  const stateCell = el("td", {}, stateBadge(r.state));
  if (r.error) stateCell.append(el("span", { class: "round-error" }, r.error));
  const version = r.index_version ? `v${r.index_version} · ${r.model_version || "—"}` : "—";
  return el(
    "tr",
    { "data-round": r.round, "data-state": r.state },
    el("th", { scope: "row" }, String(r.round)),
    stateCell,
    el("td", {}, roundSettings(r)),
    el("td", { class: "num" }, `${r.labelled_pairs} / ${r.budget}`),
    el("td", { class: "num" }, fmtFraction(r.fraction_similar)),
    el("td", { class: "stages" }, formatSeconds(r.stage_seconds)),
    el("td", { class: "num" }, fmtMap(r)),
    el("td", {}, version),
  );
}

function roundSettings(r) {
  const perPair = r.annotators_per_pair > 1 ? ` · ${r.annotators_per_pair} per pair` : "";
  return `${r.strategy || "—"} · ${r.mode || "head"}${perPair}`;
}

function renderCurrent(r) {
  if (!r) {
    current.replaceChildren(el("p", { class: "meta" }, "No round yet."));
    return;
  }
  const parts = [
    el("p", { class: "current-title" }, `Round ${r.round} `, stateBadge(r.state), ` ${r.strategy}`),
    el(
      "div",
      { class: "progress-row" },
      el("label", { for: "current-progress" }, "Labelled"),
      el("progress", { id: "current-progress", max: Math.max(r.budget, 1), value: Math.min(r.labelled_pairs, r.budget) }),
      el("span", { class: "num" }, `${r.labelled_pairs} / ${r.budget} pairs`),
    ),
  ];
  if (Object.keys(r.stage_seconds || {}).length) parts.push(el("p", { class: "meta" }, `Stages: ${formatSeconds(r.stage_seconds)}`));
  if (r.error) parts.push(el("p", { class: "round-error" }, r.error));
  current.replaceChildren(...parts);
}

function render(data) {
  const rounds = [...(data.rounds || [])].sort((a, b) => b.round - a.round);
  latest = rounds[0] || null;
  tbody.replaceChildren(...rounds.map(row));
  if (!rounds.length) {
    tbody.append(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No rounds yet.")));
  }
  const points = curvePoints(rounds);
  const key = JSON.stringify(points);
  if (key !== lastCurve) {
    drawCurve(curve, points);
    lastCurve = key;
  }
  // Say a new round or a change of state (not every label) in the live region.
  const stateKey = latest ? `${latest.round}:${latest.state}` : "";
  if (lastState && stateKey !== lastState && latest) announce(`Round ${latest.round} is ${latest.state}.`);
  lastState = stateKey;
  const currentKey = JSON.stringify(latest);
  if (currentKey !== lastCurrent) {
    renderCurrent(latest);
    lastCurrent = currentKey;
  }
  const index = data.serving_index_version;
  serving.textContent = index ? `Serving index v${index} · model ${data.serving_model_version || "—"}` : "No index is serving yet.";
  serving.dataset.indexVersion = index ?? "";
  updateOperator();
}

function updateOperator() {
  if (!startForm) return;
  const collecting = latest && latest.state === "collecting";
  closeButton.disabled = !collecting;
  closeButton.textContent = collecting ? `Close round ${latest.round} early` : "Close round early";
  if (latest && !FINISHED.has(latest.state)) {
    hint.textContent = `Round ${latest.round} is ${latest.state}; a new round can start when it is done.`;
  } else {
    hint.textContent = "";
  }
}

async function load() {
  try {
    render(await api("/api/v1/rounds"));
    clearError("Could not load the rounds");
  } catch (err) {
    showError(err, "Could not load the rounds");
  }
}

// ---- live updates --------------------------------------------------------------------------

function startPolling() {
  if (stopPolling) return;
  liveState.textContent = "Live updates: polling every 3 s.";
  stopPolling = every(POLL_MS, async () => {
    await load();
    liveState.textContent = `Live updates: polling every 3 s (updated ${formatTime()}).`;
  });
}

function listen() {
  if (!("EventSource" in window)) {
    startPolling();
    return;
  }
  const source = new EventSource("/api/v1/rounds/events");
  source.addEventListener("open", () => {
    liveState.textContent = "Live updates: on.";
  });
  source.addEventListener("message", (event) => {
    try {
      render(JSON.parse(event.data));
      liveState.textContent = `Live updates: on (updated ${formatTime()}).`;
    } catch (err) {
      showError(err, "A round update could not be read");
    }
  });
  source.addEventListener("error", () => {
    source.close();
    startPolling();
  });
}

// ---- operator ------------------------------------------------------------------------------

startForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const budgetInput = $("budget");
  if (!startForm.reportValidity()) return;
  const button = $("start-round");
  button.disabled = true;
  clearError();
  try {
    const round = await api("/api/v1/rounds", {
      method: "POST",
      json: {
        strategy: $("strategy").value,
        budget: Number(budgetInput.value),
        mode: $("mode").value,
        annotators_per_pair: Number($("annotators-per-pair").value),
      },
    });
    announce(`Round ${round.round} started (${roundSettings(round)}, budget ${round.budget}).`);
    await load();
  } catch (err) {
    showError(err, "Could not start a round");
  } finally {
    button.disabled = false;
  }
});

closeButton?.addEventListener("click", async () => {
  if (!latest) return;
  const number = latest.round;
  closeButton.disabled = true;
  clearError();
  try {
    await api(`/api/v1/rounds/${number}/close`, { method: "POST" });
    announce(`Round ${number} closed; it trains on the answers it has.`);
    await load();
  } catch (err) {
    showError(err, `Could not close round ${number}`);
    updateOperator();
  }
});

load();
listen();
