// Status: the services' health, the serving index and model, the latest round and label
// counts and, while it runs, the feature extraction's progress bar, refreshed every 5 s (and
// at once when the tab is shown again).

import { api } from "./api.js";
import { clearError, el, every, formatTime, showError } from "./ui.js";

const REFRESH_MS = 5000;
const HEALTH = {
  serving: { icon: "✓", text: "serving" },
  not_serving: { icon: "!", text: "not serving" },
  unavailable: { icon: "✕", text: "unavailable" },
};

const $ = (id) => document.getElementById(id);
const tbody = $("services-table").querySelector("tbody");
const updated = $("updated");

function healthBadge(health) {
  const known = HEALTH[health] || { icon: "?", text: health || "unknown" };
  return el(
    "span",
    { class: `badge health-${HEALTH[health] ? health : "unknown"}` },
    el("span", { class: "badge-icon", "aria-hidden": "true" }, known.icon),
    ` ${known.text}`,
  );
}

function clock(seconds) {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

// Shown while the archive's features are being extracted (first start); hidden otherwise.
function renderExtraction(x) {
  const panel = $("extraction");
  panel.hidden = !(x && x.running);
  if (panel.hidden) return;
  const bar = $("extraction-bar");
  bar.max = x.images_total;
  bar.value = x.images_done;
  $("extraction-count").textContent = `${x.images_done} / ${x.images_total} images`;
  $("extraction-rate").textContent =
    x.seconds_left === null
      ? "measuring images/s"
      : `${x.images_per_second.toFixed(1)} images/s · ${clock(x.seconds_left)} left`;
}

function render(data) {
  const services = data.services || [];
  tbody.replaceChildren(
    ...services.map((s) =>
      el(
        "tr",
        { "data-service": s.name, "data-health": s.health },
        el("th", { scope: "row" }, s.name),
        el("td", {}, el("code", {}, s.address || "—")),
        el("td", {}, healthBadge(s.health)),
      ),
    ),
  );
  if (!services.length) tbody.append(el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No services reported.")));

  $("serving-index").textContent = data.serving_index_version ? `v${data.serving_index_version}` : "none yet";
  $("serving-model").textContent = data.serving_model_version || "none yet";
  const r = data.round;
  $("status-round").replaceChildren(
    r
      ? el("span", {}, `Round ${r.round} `, el("span", { class: `badge state-${r.state}` }, r.state), ` · ${r.labelled_pairs} / ${r.budget} pairs`)
      : "No round yet",
  );
  const labels = data.labels || {};
  $("count-labelled-pairs").textContent = labels.labelled_pairs ?? "—";
  $("count-labels").textContent = labels.labels ?? "—";
  $("count-annotators").textContent = labels.annotators ?? "—";

  renderExtraction(data.extraction);

  const down = services.filter((s) => s.health !== "serving").length;
  document.body.dataset.servicesDown = String(down);
  updated.textContent = `${services.length - down} of ${services.length} services serving · updated ${formatTime()}`;
}

async function refresh() {
  if (document.hidden) return;
  try {
    render(await api("/api/v1/status"));
    clearError("Could not load the status");
  } catch (err) {
    showError(err, "Could not load the status");
    updated.textContent = `Last attempt failed at ${formatTime()}`;
  }
}

every(REFRESH_MS, refresh);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
