// Label: answer image pairs (similar / dissimilar / skip, undo) with buttons or y/n/s/u.
// The upcoming pairs' previews are loaded ahead, so an answer shows the next pair at once
// (optimistically); the answers are posted in order and the page reconciles with the last
// response. With no pair to answer it shows the API's message and polls every 3 s.

import { api } from "./api.js";
import { announce, clearError, imageUrl, showError } from "./ui.js";
import { Viewer } from "./viewer.js";

const PREVIEW_SIZE = 1024;
const POLL_MS = 3000;
const CACHE_LIMIT = 12;
const ANSWERS = { y: "similar", n: "dissimilar", s: "skip" };
const SAID = { similar: "Similar", dissimilar: "Dissimilar", skip: "Skipped" };

const $ = (id) => document.getElementById(id);
const pairEl = $("pair");
const messageEl = $("label-message");
const buttons = { similar: $("answer-similar"), dissimilar: $("answer-dissimilar"), skip: $("answer-skip") };
const undoButton = $("undo");
const viewers = { a: new Viewer($("viewer-a"), $("zoom-a")), b: new Viewer($("viewer-b"), $("zoom-b")) };
const captions = { a: $("caption-a"), b: $("caption-b") };

let shown = null; // {round, pair} on screen, or null
let upcoming = []; // pairs to show next, in order
let canUndo = false;
let pending = 0; // answers posted and not yet answered
const answered = new Set(); // "round:pair_id" of the answers in flight
let chain = Promise.resolve(); // posts go one after another
let undoing = false;
let drawSeq = 0;
let pollTimer = 0;
const preloaded = new Map(); // image id -> HTMLImageElement (loading or decoded, not in the page)

// ---- images --------------------------------------------------------------------------------

function newImage(imageId) {
  const img = new Image();
  img.decoding = "async";
  img.draggable = false;
  img.alt = imageId;
  img.src = imageUrl(imageId, PREVIEW_SIZE);
  return img;
}

function preload(pairs) {
  const wanted = new Set(pairs.flatMap((p) => [p.image_a, p.image_b]));
  for (const imageId of wanted) {
    if (preloaded.has(imageId)) continue;
    const img = newImage(imageId);
    img.decode().catch(() => {}); // decoded ahead; a failure shows when it is drawn
    preloaded.set(imageId, img);
  }
  for (const imageId of preloaded.keys()) {
    if (preloaded.size <= CACHE_LIMIT) break;
    if (!wanted.has(imageId)) preloaded.delete(imageId);
  }
}

/** The preloaded element for an image (taken out of the cache), or a new one. */
function takeImage(imageId) {
  const img = preloaded.get(imageId);
  if (img) {
    preloaded.delete(imageId);
    return img;
  }
  return newImage(imageId);
}

// ---- drawing -------------------------------------------------------------------------------

function setAnswerable(on) {
  for (const button of Object.values(buttons)) button.disabled = !on;
  undoButton.disabled = !canUndo || undoing;
}

function showPair(round, pair) {
  shown = { round, pair };
  const images = { a: takeImage(pair.image_a), b: takeImage(pair.image_b) };
  for (const side of ["a", "b"]) {
    const img = images[side];
    img.id = `image-${side}`;
    img.alt = side === "a" ? pair.image_a : pair.image_b;
    viewers[side].setImage(img);
    captions[side].textContent = img.alt;
  }
  pairEl.dataset.pairId = pair.pair_id;
  pairEl.dataset.round = round;
  pairEl.hidden = false;
  pairEl.removeAttribute("aria-busy");
  messageEl.hidden = true;
  setAnswerable(true);
  const seq = ++drawSeq;
  Promise.all([images.a.decode(), images.b.decode()])
    .catch(() => showError(`An image of pair ${pair.pair_id} could not be loaded`, "Images"))
    .then(() => {
      if (seq !== drawSeq) return; // another pair was drawn meanwhile
      document.body.dataset.pairDrawnAt = String(performance.now());
      document.dispatchEvent(new CustomEvent("pair-drawn", { detail: { pairId: pair.pair_id } }));
    });
}

function showMessage(text) {
  shown = null;
  drawSeq++;
  pairEl.hidden = true;
  pairEl.dataset.pairId = "";
  messageEl.hidden = false;
  messageEl.textContent = text || "There is no pair to label right now.";
  setAnswerable(false);
}

function showProgress(progress) {
  if (!progress) return;
  const { mine = 0, labelled_pairs: all = 0, pairs = 0, budget = 0 } = progress;
  const total = Math.max(pairs, 1);
  $("progress-text").textContent = `You: ${mine} · Everyone: ${all} / ${pairs} pairs`;
  const everyone = $("progress-everyone");
  everyone.max = total;
  everyone.value = Math.min(all, total);
  everyone.textContent = `${all} of ${pairs}`;
  const yours = $("progress-mine");
  yours.max = total;
  yours.value = Math.min(mine, total);
  yours.textContent = `${mine} of ${pairs}`;
  $("progress-budget").textContent = `Budget: ${budget} pairs this round`;
}

/** Takes a /label response as the truth: the pair to show, what comes next, progress, undo. */
function apply(data, { redraw = false } = {}) {
  canUndo = Boolean(data.can_undo);
  showProgress(data.progress);
  if (!data.pair) {
    upcoming = [];
    showMessage(data.message);
    schedulePoll();
    return;
  }
  stopPolling();
  const same = shown && shown.pair.pair_id === data.pair.pair_id && shown.round === data.round;
  if (redraw || !same) showPair(data.round, data.pair);
  else setAnswerable(true);
  upcoming = (data.upcoming || []).filter((p) => p.pair_id !== data.pair.pair_id);
  preload(upcoming);
}

/** While answers are in flight: add the response's pairs not yet answered or queued. */
function topUp(data) {
  if (!data.pair) return;
  const key = (p) => `${data.round}:${p.pair_id}`;
  const have = new Set(upcoming.map((p) => key(p)));
  if (shown) have.add(`${shown.round}:${shown.pair.pair_id}`);
  const fresh = [data.pair, ...(data.upcoming || [])].filter((p) => !answered.has(key(p)) && !have.has(key(p)));
  if (!fresh.length || (shown && shown.round !== data.round)) return;
  upcoming.push(...fresh);
  preload(upcoming);
  if (!shown) showPair(data.round, upcoming.shift());
}

// ---- answering -----------------------------------------------------------------------------

function answer(kind) {
  if (!shown || undoing) return;
  const { round, pair } = shown;
  const next = upcoming.shift();
  canUndo = true;
  if (next) {
    showPair(round, next);
  } else {
    shown = null;
    pairEl.setAttribute("aria-busy", "true");
    setAnswerable(false);
  }
  announce(`${SAID[kind]}.`);
  answered.add(`${round}:${pair.pair_id}`);
  pending++;
  chain = chain
    .then(() => api("/api/v1/label", { method: "POST", json: { round, pair_id: pair.pair_id, answer: kind } }))
    .then(
      (data) => {
        pending--;
        showProgress(data.progress);
        if (pending === 0) {
          answered.clear();
          apply(data);
        } else {
          topUp(data);
        }
      },
      (err) => {
        pending--;
        if (pending === 0) answered.clear();
        showError(err, `Your answer to pair ${pair.pair_id} was not saved`);
        if (pending === 0) refresh();
      },
    );
}

async function undo() {
  if (!canUndo || undoing) return;
  undoing = true;
  setAnswerable(false);
  clearError();
  let data = null;
  try {
    await chain; // the answers already given are saved first
    data = await api("/api/v1/label/undo", { method: "POST" });
  } catch (err) {
    showError(err, "Could not undo");
  }
  undoing = false;
  if (data) {
    apply(data, { redraw: true });
    if (data.pair) announce(`Undone. Pair ${data.pair.pair_id} again.`);
  } else {
    await refresh();
  }
}

// ---- loading and polling -------------------------------------------------------------------

async function refresh() {
  try {
    const data = await api("/api/v1/label/next");
    clearError("Could not load the next pair");
    if (pending === 0 && !undoing) apply(data);
  } catch (err) {
    showError(err, "Could not load the next pair");
    if (err.status === 401 || err.status === 403) {
      if (!shown) showMessage(err.status === 403 ? "Your role cannot label pairs." : "Sign in to label pairs.");
    } else {
      schedulePoll();
    }
  }
}

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refresh, POLL_MS);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = 0;
}

// ---- input ---------------------------------------------------------------------------------

for (const [kind, button] of Object.entries(buttons)) button.addEventListener("click", () => answer(kind));
undoButton.addEventListener("click", undo);

document.querySelector(".pair-images").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-zoom]");
  if (!button) return;
  const viewer = viewers[button.dataset.viewer];
  if (button.dataset.zoom === "in") viewer.zoomIn();
  else if (button.dataset.zoom === "out") viewer.zoomOut();
  else viewer.reset();
});

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || target.closest("input, textarea, select"));
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (document.querySelector("dialog[open]")) return;
  const key = event.key;
  if (ANSWERS[key.toLowerCase()] && !event.shiftKey) {
    event.preventDefault();
    if (!event.repeat && !buttons[ANSWERS[key.toLowerCase()]].disabled) answer(ANSWERS[key.toLowerCase()]);
    return;
  }
  if (key.toLowerCase() === "u" && !event.shiftKey) {
    event.preventDefault();
    if (!event.repeat) undo();
    return;
  }
  // Viewer keys act on the focused viewer, else on both; arrows only in a focused viewer.
  const focused = Object.values(viewers).find((v) => v.box.contains(document.activeElement));
  if (key.startsWith("Arrow") && !focused) return;
  const targets = focused ? [focused] : Object.values(viewers);
  let handled = false;
  for (const viewer of targets) handled = viewer.handleKey(key) || handled;
  if (handled) event.preventDefault();
});

refresh();
