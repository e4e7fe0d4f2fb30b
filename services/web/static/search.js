// Search: query by an uploaded image or by an archive image, show the k nearest, search again
// from any result. The archive browser pages through GET /api/v1/archive.

import { api } from "./api.js";
import { announce, clearError, el, imageUrl, showError } from "./ui.js";

const PAGE_SIZE = 60;
const RESULT_SIZE = 256;
const ARCHIVE_SIZE = 128;
const TYPES = new Set(["image/jpeg", "image/png", "image/tiff"]);
const EXTENSIONS = /\.(jpe?g|png|tiff?)$/i;

const $ = (id) => document.getElementById(id);
const fileInput = $("query-file");
const dropZone = $("drop-zone");
const kSelect = $("k");
const results = $("results");
const resultsHeading = $("results-heading");
const summary = $("results-summary");
const queryView = $("query-view");
const queryImage = $("query-image");
const queryCaption = $("query-caption");
const indexVersion = $("index-version");
const archiveGrid = $("archive-grid");
const archivePrev = $("archive-prev");
const archiveNext = $("archive-next");
const archivePageText = $("archive-page");

let lastQuery = null; // {file: File} or {imageId: string}
let objectUrl = "";
let searchSeq = 0;
let archivePage = 0;
let archivePages = 1;

// ---- query ---------------------------------------------------------------------------------

function showQuery(query) {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = "";
  queryView.hidden = false;
  queryView.classList.remove("no-preview");
  if (query.file) {
    objectUrl = URL.createObjectURL(query.file);
    queryImage.src = objectUrl;
    queryImage.alt = `Uploaded image ${query.file.name}`;
    queryCaption.textContent = `Uploaded: ${query.file.name}`;
  } else {
    queryImage.src = imageUrl(query.imageId, RESULT_SIZE);
    queryImage.alt = query.imageId;
    queryCaption.textContent = query.imageId;
  }
}

// TIFF and some other files have no preview in most browsers: say so instead of a broken image.
queryImage.addEventListener("error", () => {
  if (queryView.hidden) return;
  queryView.classList.add("no-preview");
  queryCaption.textContent = `${queryCaption.textContent} (no preview in this browser)`;
});

function acceptable(file) {
  return TYPES.has(file.type) || EXTENSIONS.test(file.name);
}

function searchFile(file) {
  if (!acceptable(file)) {
    showError(`${file.name} is not a JPEG, PNG or TIFF image`, "Cannot search");
    return;
  }
  history.replaceState(null, "", location.pathname);
  search({ file });
}

function searchImage(imageId) {
  const params = new URLSearchParams({ image_id: imageId });
  history.replaceState(null, "", `${location.pathname}?${params}`);
  search({ imageId });
}

async function search(query, { focusResults = false } = {}) {
  lastQuery = query;
  const seq = ++searchSeq;
  const k = kSelect.value;
  clearError();
  showQuery(query);
  results.setAttribute("aria-busy", "true");
  summary.textContent = "Searching…";
  try {
    let data;
    if (query.file) {
      const form = new FormData();
      form.append("file", query.file, query.file.name);
      form.append("k", k);
      data = await api("/api/v1/search", { method: "POST", form });
    } else {
      const params = new URLSearchParams({ image_id: query.imageId, k });
      data = await api(`/api/v1/search?${params}`);
    }
    if (seq !== searchSeq) return; // a newer search has started
    renderResults(data, query);
    if (focusResults) resultsHeading.focus();
  } catch (err) {
    if (seq !== searchSeq) return;
    summary.textContent = "The search failed.";
    showError(err, "Search failed");
  } finally {
    if (seq === searchSeq) results.removeAttribute("aria-busy");
  }
}

// ---- results -------------------------------------------------------------------------------

function resultCard(hit) {
  const score = Number(hit.score).toFixed(3);
  const kind = hit.class ? `, class ${hit.class}` : "";
  const name = `Rank ${hit.rank}, ${hit.image_id}, score ${score}${kind}, search from this image`;
  return el(
    "li",
    {},
    el(
      "button",
      { type: "button", class: "result", "data-rank": hit.rank, "data-image-id": hit.image_id, "aria-label": name },
      el("img", {
        src: imageUrl(hit.image_id, RESULT_SIZE),
        alt: hit.image_id,
        width: RESULT_SIZE,
        height: RESULT_SIZE,
        loading: "lazy",
        decoding: "async",
      }),
      el(
        "span",
        { class: "result-meta" },
        el("span", { class: "result-rank" }, `#${hit.rank}`),
        el("span", { class: "result-score", title: "similarity score" }, score),
      ),
      el("span", { class: "result-id" }, hit.image_id),
      hit.class ? el("span", { class: "result-class" }, hit.class) : null,
    ),
  );
}

function renderResults(data, query) {
  const hits = data.hits || [];
  results.replaceChildren(...hits.map(resultCard));
  const what = query.file ? query.file.name : query.imageId;
  const count = `${hits.length} result${hits.length === 1 ? "" : "s"}`;
  summary.textContent = hits.length ? `${count} for ${what}. Choose one to search from it.` : `No results for ${what}.`;
  indexVersion.textContent = `index v${data.index_version} · model ${data.model_version || "untrained"}`;
  indexVersion.dataset.indexVersion = data.index_version;
  announce(count);
}

results.addEventListener("click", (event) => {
  const card = event.target.closest(".result");
  if (!card) return;
  const imageId = card.dataset.imageId;
  const params = new URLSearchParams({ image_id: imageId });
  history.replaceState(null, "", `${location.pathname}?${params}`);
  search({ imageId }, { focusResults: true });
});

kSelect.addEventListener("change", () => {
  if (lastQuery) search(lastQuery);
});

// ---- upload --------------------------------------------------------------------------------

fileInput.addEventListener("change", () => {
  const file = fileInput.files && fileInput.files[0];
  if (file) searchFile(file);
  fileInput.value = ""; // choosing the same file again searches again
});

const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");

dropZone.addEventListener("dragenter", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dropZone.classList.add("dragging");
});
dropZone.addEventListener("dragover", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  dropZone.classList.add("dragging");
});
dropZone.addEventListener("dragleave", (event) => {
  if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("dragging");
});
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("dragging");
  const file = event.dataTransfer?.files?.[0];
  if (file) searchFile(file);
});
// A file dropped next to the zone must not navigate away from the page.
for (const type of ["dragover", "drop"]) {
  document.addEventListener(type, (event) => {
    if (hasFiles(event) && !dropZone.contains(event.target)) event.preventDefault();
  });
}

// ---- archive browser -----------------------------------------------------------------------

function archiveItem(image) {
  const label = `${image.id}${image.class ? `, class ${image.class}` : ""}, search by this image`;
  return el(
    "li",
    {},
    el(
      "button",
      { type: "button", class: "archive-item", "data-image-id": image.id, "aria-label": label, title: image.id },
      el("img", {
        src: imageUrl(image.id, ARCHIVE_SIZE),
        alt: image.id,
        width: ARCHIVE_SIZE,
        height: ARCHIVE_SIZE,
        loading: "lazy",
        decoding: "async",
      }),
    ),
  );
}

async function loadArchive(page) {
  archivePrev.disabled = true;
  archiveNext.disabled = true;
  archiveGrid.setAttribute("aria-busy", "true");
  try {
    const params = new URLSearchParams({ offset: page * PAGE_SIZE, limit: PAGE_SIZE });
    const data = await api(`/api/v1/archive?${params}`);
    const total = data.total || 0;
    archivePage = page;
    archivePages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    archiveGrid.replaceChildren(...(data.images || []).map(archiveItem));
    archivePageText.textContent = `Page ${page + 1} of ${archivePages} · ${total} images`;
    clearError("Archive");
  } catch (err) {
    archivePageText.textContent = "The archive could not be loaded.";
    showError(err, "Archive");
  } finally {
    archiveGrid.removeAttribute("aria-busy");
    archivePrev.disabled = archivePage <= 0;
    archiveNext.disabled = archivePage >= archivePages - 1;
  }
}

archiveGrid.addEventListener("click", (event) => {
  const item = event.target.closest(".archive-item");
  if (!item) return;
  for (const selected of archiveGrid.querySelectorAll('[aria-current="true"]')) selected.removeAttribute("aria-current");
  item.setAttribute("aria-current", "true");
  searchImage(item.dataset.imageId);
});
archivePrev.addEventListener("click", () => loadArchive(Math.max(0, archivePage - 1)));
archiveNext.addEventListener("click", () => loadArchive(Math.min(archivePages - 1, archivePage + 1)));

// ---- start ---------------------------------------------------------------------------------

loadArchive(0);
const initial = new URLSearchParams(location.search);
if (initial.get("k") && [...kSelect.options].some((o) => o.value === initial.get("k"))) kSelect.value = initial.get("k");
if (initial.get("image_id")) search({ imageId: initial.get("image_id") });
