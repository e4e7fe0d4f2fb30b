// Small shared helpers for the pages: building elements, the live region, the error alert,
// image URLs, and the header's Sign out button.

import { api } from "./api.js";

/**
 * Builds an element. attrs: attribute name -> value (null/undefined/false skip it; "class"
 * and data-* are plain attributes). Children: nodes or strings (set as text, never as HTML).
 */
export function el(tag, attrs = {}, ...children) {
  const svg = SVG_TAGS.has(tag);
  const node = svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "g", "line", "path", "circle", "text", "title", "desc", "rect", "polyline"]);

let announceTimer = 0;

/** Says text in the polite live region (set after a beat so a repeat is said again). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/**
 * Shows an error in the page's alert region. context says what failed; it also tags the
 * error, so clearError(context) removes only an error of that kind.
 */
export function showError(err, context = "") {
  const region = document.getElementById("error");
  const message = err instanceof Error ? err.message : String(err);
  const code = err && err.code && err.status ? ` (${err.code})` : "";
  const text = context ? `${context}: ${message}${code}` : `${message}${code}`;
  if (!region) {
    console.error(text);
    return;
  }
  region.textContent = text;
  region.dataset.context = context;
}

/** Empties the alert region; with a context, only when the error shown has that context. */
export function clearError(context) {
  const region = document.getElementById("error");
  if (!region || (context !== undefined && region.dataset.context !== context)) return;
  region.textContent = "";
  delete region.dataset.context;
}

/** The API URL of an image at a size, the image id URL-encoded per path segment. */
export function imageUrl(imageId, size) {
  const path = String(imageId).split("/").map(encodeURIComponent).join("/");
  return `/api/v1/images/${path}/thumbnail?size=${size}`;
}

export function formatSeconds(stageSeconds) {
  const entries = Object.entries(stageSeconds || {});
  if (!entries.length) return "—";
  return entries.map(([stage, s]) => `${stage} ${Number(s).toFixed(1)} s`).join(", ");
}

export function formatTime(date = new Date()) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Runs task now and then every intervalMs after each run ends; returns a stop function. */
export function every(intervalMs, task) {
  let timer = 0;
  let stopped = false;
  const run = async () => {
    try {
      await task();
    } catch (err) {
      console.error(err);
    } finally {
      if (!stopped) timer = setTimeout(run, intervalMs);
    }
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

const signOut = document.getElementById("sign-out");
signOut?.addEventListener("click", async () => {
  signOut.disabled = true;
  try {
    await api("/api/v1/session", { method: "DELETE", login: false });
    location.assign("/login");
  } catch (err) {
    signOut.disabled = false;
    showError(err, "Could not sign out");
  }
});
