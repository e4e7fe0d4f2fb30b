// A zoom/pan viewer for one image: a CSS transform on the <img> inside a clipping box.
// Mouse wheel or zoomIn/zoomOut zoom, dragging pans, double-click or reset() goes back to fit.

const MIN_SCALE = 1;
const MAX_SCALE = 8;
const STEP = 1.25;
const PAN_STEP = 40;

export class Viewer {
  /** box: the clipping element holding the img; levelEl (optional) shows the zoom in percent. */
  constructor(box, levelEl = null) {
    this.box = box;
    this.levelEl = levelEl;
    this.img = box.querySelector("img");
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.drag = null;
    box.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    box.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    box.addEventListener("pointermove", (event) => this.onPointerMove(event));
    box.addEventListener("pointerup", (event) => this.onPointerUp(event));
    box.addEventListener("pointercancel", (event) => this.onPointerUp(event));
    box.addEventListener("dblclick", () => this.reset());
  }

  /** Puts img in place of the current image (keeping the box) and fits it. */
  setImage(img) {
    img.draggable = false;
    if (this.img !== img) {
      if (this.img) this.img.replaceWith(img);
      else this.box.append(img);
      this.img = img;
    }
    this.reset();
  }

  reset() {
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.apply();
  }

  zoomIn() {
    this.zoomAt(this.scale * STEP);
  }

  zoomOut() {
    this.zoomAt(this.scale / STEP);
  }

  /** Pans by dx, dy pixels of the box (moves the picture that way). */
  pan(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.apply();
  }

  /** Zooms to scale keeping the point (px, py), relative to the box's centre, where it is. */
  zoomAt(scale, px = 0, py = 0) {
    const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    const ratio = next / this.scale;
    this.x = px - (px - this.x) * ratio;
    this.y = py - (py - this.y) * ratio;
    this.scale = next;
    this.apply();
  }

  apply() {
    // Keep some of the picture in view: at most (scale - 1) / 2 of the box off each side.
    const width = this.box.clientWidth;
    const height = this.box.clientHeight;
    const maxX = ((this.scale - 1) * width) / 2;
    const maxY = ((this.scale - 1) * height) / 2;
    this.x = Math.min(maxX, Math.max(-maxX, this.x));
    this.y = Math.min(maxY, Math.max(-maxY, this.y));
    if (this.img) {
      this.img.style.transform =
        this.scale === 1 ? "" : `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    }
    this.box.classList.toggle("zoomed", this.scale > 1);
    if (this.levelEl) this.levelEl.textContent = `${Math.round(this.scale * 100)} %`;
  }

  centreOffset(event) {
    const rect = this.box.getBoundingClientRect();
    return [event.clientX - rect.left - rect.width / 2, event.clientY - rect.top - rect.height / 2];
  }

  onWheel(event) {
    event.preventDefault();
    const [px, py] = this.centreOffset(event);
    const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.002));
    this.zoomAt(this.scale * factor, px, py);
  }

  onPointerDown(event) {
    if (event.button !== 0 || this.scale === 1) return;
    this.drag = { id: event.pointerId, x: event.clientX, y: event.clientY };
    this.box.setPointerCapture(event.pointerId);
    this.box.classList.add("dragging");
  }

  onPointerMove(event) {
    if (!this.drag || event.pointerId !== this.drag.id) return;
    this.pan(event.clientX - this.drag.x, event.clientY - this.drag.y);
    this.drag.x = event.clientX;
    this.drag.y = event.clientY;
  }

  onPointerUp(event) {
    if (!this.drag || event.pointerId !== this.drag.id) return;
    this.drag = null;
    this.box.classList.remove("dragging");
  }

  /** Handles a viewer key (+, -, 0, arrows); returns whether it was one. */
  handleKey(key) {
    const moves = { ArrowLeft: [PAN_STEP, 0], ArrowRight: [-PAN_STEP, 0], ArrowUp: [0, PAN_STEP], ArrowDown: [0, -PAN_STEP] };
    if (key === "+" || key === "=") this.zoomIn();
    else if (key === "-" || key === "_") this.zoomOut();
    else if (key === "0") this.reset();
    else if (moves[key] && this.scale > 1) this.pan(...moves[key]);
    else return false;
    return true;
  }
}
