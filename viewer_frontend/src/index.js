// BCL Predict browser viewer: NiiVue behind a Streamlit components-v2 API.
//
// This bundle is the "library" component (pages/components/browser_viewer.py mounts it once per
// page). Importing it installs window.__bclViewer = {store, view}; two tiny inline components
// call those: "store" receives the compressed voxel payloads (one transfer per volume), "view"
// receives small JSON (ids of what to show, the marked point, presets) on every rerun.
//
// Geometry: NiiVue's world is NIfTI RAS mm. Python sends RAS (bcl_core.viewer_data.ras_affine)
// and converts what comes back to LPS (ras_to_lps); this file never converts frames itself.
import { Niivue, NVImage, SLICE_TYPE, DRAG_MODE, SHOW_RENDER } from "@niivue/niivue";
import { parsePayload, inflateItem } from "./payload.js";
import { SLICE_SHADER, heatGradientCss } from "./shader.js";

const PLANE_SLICE = { axial: SLICE_TYPE.AXIAL, coronal: SLICE_TYPE.CORONAL, sagittal: SLICE_TYPE.SAGITTAL };
// Index of the RAS axis normal to each plane (NiiVue's RAS voxel frame).
const PLANE_NORMAL = { axial: 2, coronal: 1, sagittal: 0 };
const LPS_AXIS = { axial: "z", coronal: "y", sagittal: "x" };
const MARK_MOVE_PX = 5;

// ---------------------------------------------------------------------------------------------
// Volume store: id -> Promise<ArrayBuffer> (uncompressed NIfTI), kept in this tab only.
const STORE = new Map();

function entry(id) {
  let e = STORE.get(id);
  if (!e) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    e = { promise, resolve, filled: false };
    STORE.set(id, e);
  }
  return e;
}

// Ids each store element holds: a new payload in the same element (a new outline, a new
// result) frees the previous one's buffers.
const STORE_OWNERS = new WeakMap();

async function store(component) {
  const bytes = component.data;
  if (!(bytes instanceof Uint8Array)) return undefined;
  mark(`store ${bytes.byteLength}`);
  const { items } = parsePayload(bytes);
  const ids = items.map((it) => it.id);
  const owner = component.parentElement;
  const before = STORE_OWNERS.get(owner) || [];
  before.filter((id) => !ids.includes(id)).forEach((id) => STORE.delete(id));
  STORE_OWNERS.set(owner, ids);
  await Promise.all(items.map(async (item) => {
    const e = entry(item.id);
    if (e.filled) return;
    e.filled = true;
    stats.bytesReceived += item.chunks.reduce((a, b) => a + b, 0);
    const t0 = performance.now();
    e.resolve({ buffer: await inflateItem(item), meta: item.meta || {} });
    stats.inflateMs += performance.now() - t0;
    mark(`inflated ${item.id}`);
  }));
  return () => { (STORE_OWNERS.get(owner) || []).forEach((id) => STORE.delete(id)); STORE_OWNERS.delete(owner); };
}

// Timing hooks for benchmarks/bench_browser_viewer.py and the browser tests.
const stats = { bytesReceived: 0, draws: 0, lastDraw: 0, firstView: 0, inflateMs: 0, timeline: [] };
function mark(what) { if (stats.timeline.length < 200) stats.timeline.push([Math.round(performance.now()), what]); }

// ---------------------------------------------------------------------------------------------
function webgl2Available() {
  try {
    const c = document.createElement("canvas");
    return !!c.getContext("webgl2");
  } catch (err) {
    return false;
  }
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(v, d = 1) { return Number(v).toFixed(d); }

// Texture units of the viewer's own textures (NiiVue uses 0-9).
const UNIT = { raw: 12, mask: 13, heat: 14 };

function toFloat32(buffer, meta) {
  const Kind = { uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array }[meta.dtype];
  if (!Kind) throw new Error(`unsupported voxel type ${meta.dtype}`);
  const values = new Kind(buffer);
  if (values instanceof Float32Array) return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i += 1) out[i] = values[i];  // faster than .from()
  return out;
}

class Viewer {
  constructor(root, component) {
    this.root = root;
    this.component = component;
    this.data = {};
    this.loaded = {};        // role -> payload id shown (base, mask, heat)
    this.dims = null;        // voxels along the canonical (RAS) axes
    this.window = null;      // {width, level}
    this.mode = "mark";
    this.queue = Promise.resolve();
    this.build();
  }

  build() {
    const r = this.root;
    r.innerHTML = "";
    const wrap = el("div", { class: "bclv" });
    const bar = el("div", { class: "bclv-bar" });
    this.planeButtons = el("span", { class: "bclv-planes" });
    this.preset = el("select", { "data-testid": "bclv-preset", title: "Window preset" });
    this.width = el("input", { type: "number", "data-testid": "bclv-width", title: "Window width", step: "any" });
    this.level = el("input", { type: "number", "data-testid": "bclv-level", title: "Window level", step: "any" });
    this.zoomIn = el("button", { type: "button", title: "Zoom in (Ctrl+wheel)", "data-testid": "bclv-zoom-in" }, "+");
    this.zoomOut = el("button", { type: "button", title: "Zoom out (Ctrl+wheel)", "data-testid": "bclv-zoom-out" }, "\u2212");
    this.reset = el("button", { type: "button", title: "Reset zoom and pan", "data-testid": "bclv-reset" }, "1:1");
    this.modeButton = el("button", { type: "button", "data-testid": "bclv-mode" });
    bar.append(this.planeButtons, el("label", {}, "Window "), this.preset,
      el("label", {}, " W "), this.width, el("label", {}, " L "), this.level,
      this.zoomOut, this.zoomIn, this.reset, this.modeButton);
    this.canvasBox = el("div", { class: "bclv-canvas" });
    this.canvas = el("canvas", { tabindex: "0", "data-testid": "bclv-canvas" });
    this.canvasBox.append(this.canvas);
    this.status = el("div", { class: "bclv-status", "data-testid": "bclv-status" }, "Loading the images ...");
    this.colorbar = el("div", { class: "bclv-colorbar", "data-testid": "bclv-colorbar" });
    this.note = el("div", { class: "bclv-note", "data-testid": "bclv-note" });
    this.help = el("div", { class: "bclv-help" },
      "Wheel or \u2191/\u2193 PgUp/PgDn: slice \u00b7 right-drag: window (\u2194 width, \u2195 level) \u00b7 Ctrl+wheel or +/\u2212: zoom \u00b7 " +
      "middle- or Shift-drag: pan \u00b7 letters R/L A/P S/I: patient directions, radiological (patient right on screen left)");
    wrap.append(bar, this.canvasBox, this.status, this.colorbar, this.note, this.help);
    r.append(wrap);
    const style = el("style");
    style.textContent = `
      .bclv { font: 13px system-ui, sans-serif; color: var(--st-text-color, #222); }
      .bclv-bar { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; margin-bottom: 4px; }
      .bclv-bar input { width: 5.5em; } .bclv-bar button { min-width: 2.2em; cursor: pointer; }
      .bclv-bar button[aria-pressed=true] { font-weight: bold; outline: 2px solid #1f77b4; }
      .bclv-canvas { position: relative; width: 100%; background: #000; }
      .bclv-canvas canvas { width: 100%; height: 100%; display: block; outline: none; }
      .bclv-status { font-family: ui-monospace, monospace; font-size: 12px; margin-top: 2px; }
      .bclv-colorbar { margin-top: 4px; font-size: 12px; }
      .bclv-colorbar .bar { height: 12px; border: 1px solid #888; }
      .bclv-colorbar .ticks { display: flex; justify-content: space-between; font-family: ui-monospace, monospace; }
      .bclv-note { color: #a15c00; font-size: 12px; } .bclv-help { color: #666; font-size: 11px; }`;
    r.append(style);

    this.preset.addEventListener("change", () => this.applyPreset(this.preset.value));
    const typed = () => this.setWindow(Number(this.width.value), Number(this.level.value), "manual");
    this.width.addEventListener("change", typed);
    this.level.addEventListener("change", typed);
    for (const input of [this.width, this.level]) {
      // Enter applies the window and never reaches a form.
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); typed(); } });
    }
    this.zoomIn.addEventListener("click", () => this.zoom(1.25));
    this.zoomOut.addEventListener("click", () => this.zoom(0.8));
    this.reset.addEventListener("click", () => { if (this.nv) { this.nv.scene.pan2Dxyzmm = [0, 0, 0, 1]; this.redraw(); } });
    this.modeButton.addEventListener("click", () => { this.mode = this.mode === "mark" ? "navigate" : "mark"; this.showMode(); });
  }

  showMode() {
    this.modeButton.style.display = this.data.clickable ? "" : "none";
    this.modeButton.textContent = this.mode === "mark" ? "Click marks the target" : "Click only navigates";
    this.modeButton.setAttribute("aria-pressed", String(this.mode === "mark"));
  }

  async init() {
    if (!webgl2Available()) return false;
    this.canvasBox.style.height = `${this.data.height || 460}px`;
    const nv = new Niivue({
      isRadiologicalConvention: this.data.radiological !== false,
      isOrientationTextVisible: true,
      showAllOrientationMarkers: true,
      isOrientCube: false,
      isColorbar: false,
      dragAndDropEnabled: false,
      multiplanarShowRender: SHOW_RENDER.NEVER,
      backColor: [0, 0, 0, 1],
      crosshairColor: [0.0, 0.9, 0.9, 0.7],
      // Width in mm (NiiVue's default unit is a voxel of its coarse layout grid).
      crosshairWidthUnit: "mm",
      crosshairWidth: 0.5,
      crosshairGap: 12,
      sagittalNoseLeft: true,
      isSliceMM: true,
      loadingText: "",
      logLevel: "error",
      scrollRequiresFocus: false,
      textHeight: 0.06,
      fontMinPx: 14,
      mouseEventConfig: {
        leftButton: { primary: DRAG_MODE.crosshair, withShift: DRAG_MODE.pan },
        rightButton: DRAG_MODE.none,
        centerButton: DRAG_MODE.pan,
      },
    });
    this.nv = nv;
    await nv.attachToCanvas(this.canvas);
    const draw = nv.drawScene.bind(nv);
    nv.drawScene = () => { const out = draw(); stats.draws += 1; stats.lastDraw = performance.now(); return out; };
    nv.onLocationChange = () => this.showStatus();
    this.listen();
    return true;
  }

  listen() {
    const c = this.canvas;
    // Wheel: one slice per notch (NiiVue's own wheel would step its coarse layout grid).
    c.addEventListener("wheel", (e) => {
      e.preventDefault(); e.stopImmediatePropagation();
      if (e.ctrlKey || e.metaKey) this.zoom(e.deltaY < 0 ? 1.1 : 1 / 1.1);
      else if (e.deltaY !== 0) this.stepSlice(e.deltaY < 0 ? 1 : -1);
    }, { capture: true, passive: false });
    c.addEventListener("keydown", (e) => {
      const step = { ArrowUp: 1, PageUp: 1, ArrowDown: -1, PageDown: -1, ArrowLeft: 0, ArrowRight: 0 }[e.key];
      if (step === undefined) return;
      e.preventDefault(); e.stopImmediatePropagation();
      if (step) this.stepSlice(step);
    }, { capture: true });
    let down = null;
    let windowing = null;
    c.addEventListener("pointerdown", (e) => {
      down = e.button === 0 && !e.shiftKey ? [e.clientX, e.clientY] : null;
      if (e.button === 2 && this.window) {
        windowing = { x: e.clientX, y: e.clientY, ...this.window };
        c.setPointerCapture(e.pointerId);
      }
    });
    c.addEventListener("pointermove", (e) => {
      if (!windowing) return;
      // Right-drag: horizontal changes the width, vertical the level (down = higher level).
      const step = Math.max(this.data.presets[this.data.presets.length - 1].width, 1) / 400;
      const width = Math.max(1, windowing.width + (e.clientX - windowing.x) * step);
      const level = windowing.level + (e.clientY - windowing.y) * step;
      this.setWindow(width, level, "manual");
    });
    const endWindowing = (e) => { if (windowing && e.button === 2) windowing = null; };
    c.addEventListener("pointerup", endWindowing);
    c.addEventListener("pointercancel", () => { windowing = null; });
    c.addEventListener("pointerup", (e) => {
      if (!down || e.button !== 0) return;
      const moved = Math.hypot(e.clientX - down[0], e.clientY - down[1]);
      down = null;
      // NiiVue has moved the crosshair to the click; centre it on that voxel.
      setTimeout(() => {
        this.snap();
        this.redraw();
        if (moved <= MARK_MOVE_PX && this.data.clickable && this.mode === "mark") this.reportMark();
      }, 0);
    });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  // Crosshair on the centre of the nearest full-resolution voxel (so a slice is never a blend).
  snap() {
    const pos = this.nv.scene.crosshairPos;
    for (let a = 0; a < 3; a += 1) {
      const n = this.dims[a];
      const index = Math.min(n - 1, Math.max(0, Math.round(pos[a] * n - 0.5)));
      pos[a] = (index + 0.5) / n;
    }
  }

  reportMark() {
    const mm = this.nv.frac2mm(this.nv.scene.crosshairPos);
    this.markCount = (this.markCount || 0) + 1;
    this.component.setTriggerValue("mark", { ras_mm: [mm[0], mm[1], mm[2]], n: this.markCount });
  }

  stepSlice(step) {
    if (!this.dims) return;
    const axis = PLANE_NORMAL[this.data.plane];
    const pos = this.nv.scene.crosshairPos;
    const n = this.dims[axis];
    const index = Math.min(n - 1, Math.max(0, Math.round(pos[axis] * n - 0.5) + step));
    pos[axis] = (index + 0.5) / n;
    this.nv.createOnLocationChange();
    this.redraw();
  }

  zoom(factor) {
    const nv = this.nv;
    if (!nv) return;
    nv.scene.pan2Dxyzmm[3] = Math.min(20, Math.max(0.5, nv.scene.pan2Dxyzmm[3] * factor));
    this.redraw();
  }

  redraw() {
    if (!this.nv) return;
    this.nv.drawScene();
    this.showStatus();
  }

  uniforms() {
    const shader = this.nv.customSliceShader;
    if (!shader) return null;
    this.nv.gl.useProgram(shader.program);
    return shader.uniforms;
  }

  setWindow(width, level, name) {
    if (!(width > 0) || !Number.isFinite(level) || !this.nv) return;
    this.window = { width, level };
    const u = this.uniforms();
    if (u) this.nv.gl.uniform2f(u.bclWindow, level - width / 2, 1 / width);
    if (name) this.preset.value = name;
    this.redraw();
  }

  applyPreset(name) {
    const preset = (this.data.presets || []).find((p) => p.name === name);
    if (preset) this.setWindow(preset.width, preset.level, name);
  }

  showPlaneButtons() {
    const planes = this.data.planes || [this.data.plane];
    this.planeButtons.innerHTML = "";
    if (planes.length < 2) return;
    for (const plane of planes) {
      const b = el("button", { type: "button", "data-testid": `bclv-plane-${plane}`,
        "aria-pressed": String(plane === this.data.plane) }, plane);
      b.addEventListener("click", () => { this.data.plane = plane; this.showPlane(); this.showPlaneButtons(); });
      this.planeButtons.append(b);
    }
  }

  showPlane() {
    // Only the slice type changes: the crosshair (the position) stays where it is.
    this.nv.setSliceType(PLANE_SLICE[this.data.plane]);
    this.showStatus();
  }

  showPresets() {
    const names = (this.data.presets || []).map((p) => p.name);
    this.preset.innerHTML = "";
    for (const name of [...names, "manual"]) this.preset.append(el("option", { value: name }, name));
  }

  texture(unit, linear) {
    const gl = this.nv.gl;
    const tex = gl.createTexture();
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_3D, tex);
    const filter = linear ? gl.LINEAR : gl.NEAREST;
    gl.texParameteri(gl.TEXTURE_3D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_3D, gl.TEXTURE_MAG_FILTER, filter);
    for (const wrap of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T, gl.TEXTURE_WRAP_R]) {
      gl.texParameteri(gl.TEXTURE_3D, wrap, gl.CLAMP_TO_EDGE);
    }
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    return tex;
  }

  upload(role, values, dims) {
    const gl = this.nv.gl;
    const old = this.textures && this.textures[role];
    if (old) gl.deleteTexture(old);
    this.textures = this.textures || {};
    if (role === "raw") {
      this.textures.raw = this.texture(UNIT.raw, true);
      gl.texImage3D(gl.TEXTURE_3D, 0, gl.R16F, dims[0], dims[1], dims[2], 0, gl.RED, gl.FLOAT, values);
    } else {
      this.textures[role] = this.texture(UNIT[role], role === "heat");
      gl.texImage3D(gl.TEXTURE_3D, 0, gl.R8, dims[0], dims[1], dims[2], 0, gl.RED, gl.UNSIGNED_BYTE, values);
    }
    gl.activeTexture(gl.TEXTURE0);
  }

  async loadBase(id) {
    if (this.loaded.base === id) return false;
    this.loaded.base = id;
    const [proxy, img] = await Promise.all([entry(`${id}-grid`).promise, entry(`${id}-img`).promise]);
    mark("got base");
    if (this.loaded.base !== id) return false;
    const nv = this.nv;
    while (nv.volumes.length) nv.removeVolume(nv.volumes[0]);
    const grid = await NVImage.loadFromUrl({ url: "grid.nii", buffer: proxy.buffer, name: "grid.nii" });
    nv.addVolume(grid);
    if (!nv.customSliceShader) nv.setCustomSliceShader(SLICE_SHADER);
    this.dims = img.meta.dims;
    this.upload("raw", toFloat32(img.buffer, img.meta), this.dims);
    for (const role of ["mask", "heat"]) {
      this.upload(role, new Uint8Array(1), [1, 1, 1]);
      this.loaded[role] = null;
    }
    const u = this.uniforms();
    const gl = nv.gl;
    gl.uniform1i(u.bclRaw, UNIT.raw);
    gl.uniform1i(u.bclMask, UNIT.mask);
    gl.uniform1i(u.bclHeat, UNIT.heat);
    gl.uniform1f(u.bclMaskOn, 0);
    gl.uniform1f(u.bclHeatOn, 0);
    gl.uniform1f(u.bclHeatOpacity, 0.6);
    gl.uniform1f(u.bclPointOn, 0);
    gl.uniform3fv(u.bclBoxMM, this.data.box_mm);
    for (const name of ["bclMask", "bclHeat"]) {
      gl.uniform3fv(u[`${name}Lo`], [0, 0, 0]);
      gl.uniform3fv(u[`${name}Size`], [1, 1, 1]);
    }
    mark("uploaded base");
    return true;
  }

  async loadLayer(role, id) {
    if (this.loaded[role] === id) return;
    this.loaded[role] = id;
    const on = role === "mask" ? "bclMaskOn" : "bclHeatOn";
    if (!id) {
      const u = this.uniforms();
      this.nv.gl.uniform1f(u[on], 0);
      return;
    }
    const item = await entry(id).promise;
    if (this.loaded[role] !== id) return;
    const { dims, offset } = item.meta;
    this.upload(role, new Uint8Array(item.buffer), dims);
    const u = this.uniforms();
    const gl = this.nv.gl;
    const name = role === "mask" ? "bclMask" : "bclHeat";
    gl.uniform3fv(u[`${name}Lo`], offset.map((o, a) => o / this.dims[a]));
    gl.uniform3fv(u[`${name}Size`], dims.map((d, a) => d / this.dims[a]));
    gl.uniform1f(u[on], 1);
    mark(`uploaded ${role}`);
  }

  async update(data, component) {
    const previous = this.data;
    this.data = { ...data };
    this.component = component;
    if (!this.nv) {
      if (!(await this.init())) {
        this.status.textContent = "";
        this.note.textContent = "WebGL 2 is not available in this browser: the static viewer is shown instead.";
        component.setStateValue("webgl", false);
        return;
      }
    }
    if (previous.plane && previous.volume && previous.volume.id === data.volume.id) {
      this.data.plane = previous.plane;  // the user's plane choice survives reruns
    }
    this.showMode();
    this.showPlaneButtons();
    const baseChanged = await this.loadBase(data.volume.id);
    if (baseChanged) {
      this.showPresets();
      this.applyPreset(data.presets[0].name);
      this.nv.setSliceType(PLANE_SLICE[this.data.plane]);
      this.snap();
    } else if (this.window) {
      const u = this.uniforms();
      this.nv.gl.uniform2f(u.bclWindow, this.window.level - this.window.width / 2, 1 / this.window.width);
    }
    await this.loadLayer("mask", data.mask);
    await this.loadLayer("heat", data.heat ? data.heat.id : null);
    const u = this.uniforms();
    if (data.focus_ras) {
      const frac = this.nv.mm2frac(data.focus_ras);
      this.nv.gl.uniform3fv(u.bclPoint, frac);
      if (baseChanged || data.focus_token !== previous.focus_token) {
        this.nv.scene.crosshairPos = frac;
        this.snap();
        this.nv.createOnLocationChange();
      }
    }
    this.nv.gl.uniform1f(u.bclPointOn, data.focus_ras && data.show_marker ? 1 : 0);
    this.showColorbar(data.heat);
    this.note.textContent = data.heat && data.heat.message ? data.heat.message : "";
    this.redraw();
    if (baseChanged && !stats.firstView) stats.firstView = performance.now();
    this.root.setAttribute("data-bclv-ready", data.volume.id);
    this.root.setAttribute("data-bclv-mask", data.mask || "");
    this.root.setAttribute("data-bclv-heat", data.heat ? data.heat.id : "");
  }

  showColorbar(heat) {
    this.colorbar.innerHTML = "";
    if (!heat) return;
    this.colorbar.append(el("div", {}, `Heat map: ${heat.label} (what drove the estimate; 0 = nothing, 1 = most; inside the vertebra only)`));
    const bar = el("div", { class: "bar" });
    bar.style.background = heatGradientCss();
    const ticks = el("div", { class: "ticks" });
    for (const t of ["0", "0.25", "0.5", "0.75", "1"]) ticks.append(el("span", {}, t));
    this.colorbar.append(bar, ticks);
  }

  showStatus() {
    const nv = this.nv;
    if (!nv || !this.dims || !this.window) return;
    const ras = nv.frac2mm(nv.scene.crosshairPos);
    const lps = [-ras[0], -ras[1], ras[2]];
    const plane = this.data.plane;
    const m = this.data.ras_to_ijk;
    const ijk = m.map((row) => row[0] * ras[0] + row[1] * ras[1] + row[2] * ras[2] + row[3]);
    const axis = (this.data.slice_axes || {})[plane];
    const dims = this.data.size_ijk;
    const slice = axis === undefined ? "" : `slice ${Math.round(ijk[axis]) + 1}/${dims[axis]} \u00b7 `;
    const { width, level } = this.window;
    if (document.activeElement !== this.width) this.width.value = fmt(width, 0);
    if (document.activeElement !== this.level) this.level.value = fmt(level, 0);
    const lpsAxis = "xyz".indexOf(LPS_AXIS[plane]);
    this.status.textContent = `${plane} ${slice}${LPS_AXIS[plane]} = ${fmt(lps[lpsAxis])} mm \u00b7 ` +
      `LPS (${lps.map((v) => fmt(v)).join(", ")}) mm \u00b7 W ${fmt(width, 0)} L ${fmt(level, 0)} \u00b7 zoom ${fmt(nv.scene.pan2Dxyzmm[3], 2)}\u00d7`;
    this.root.setAttribute("data-bclv-lps", lps.map((v) => v.toFixed(3)).join(","));
    this.root.setAttribute("data-bclv-slice", axis === undefined ? "" : String(Math.round(ijk[axis])));
    this.root.setAttribute("data-bclv-plane", plane);
    this.root.setAttribute("data-bclv-window", `${width.toFixed(1)},${level.toFixed(1)}`);
  }

  destroy() {
    try {
      if (this.nv && this.textures) Object.values(this.textures).forEach((t) => this.nv.gl.deleteTexture(t));
      if (this.nv && this.nv.cleanup) this.nv.cleanup();
    } catch (err) { /* already gone */ }
    this.nv = null;
  }
}

const VIEWERS = new WeakMap();

function view(component) {
  const { parentElement, data } = component;
  mark("view");
  if (!data || !data.volume) return undefined;
  let viewer = VIEWERS.get(parentElement);
  if (!viewer) {
    const root = document.createElement("div");
    root.className = "bclv-root";
    parentElement.append(root);
    viewer = new Viewer(root, component);
    VIEWERS.set(parentElement, viewer);
    LIVE.add(viewer);
    viewer.cleanup = () => { viewer.destroy(); VIEWERS.delete(parentElement); LIVE.delete(viewer); };
  }
  // Serialise updates: a rerun may arrive while the volume is still loading.
  viewer.queue = viewer.queue.then(() => viewer.update(data, component)).catch((err) => {
    viewer.note.textContent = `The viewer failed: ${err && err.message ? err.message : err}`;
  });
  return viewer.cleanup;
}

// Live viewers, for the browser tests and the benchmark (window.__bclViewer.viewers()).
const LIVE = new Set();

// In page order (each viewer sits in its own shadow root: compare the hosts).
function viewers() {
  const host = (v) => v.root.getRootNode().host || v.root;
  return [...LIVE].filter((v) => v.root.isConnected).sort((a, b) =>
    (host(a).compareDocumentPosition(host(b)) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
}

// Put the crosshair on canonical voxel (x, y, z) of a viewer and return the RAS mm NiiVue
// reports there (the browser test compares it with bcl_core.volume's own transform).
function crosshairAtVoxel(viewer, xyz) {
  viewer.nv.scene.crosshairPos = xyz.map((v, a) => (v + 0.5) / viewer.dims[a]);
  viewer.nv.createOnLocationChange();
  viewer.redraw();
  return Array.from(viewer.nv.frac2mm(viewer.nv.scene.crosshairPos)).slice(0, 3);
}

// CSS pixel (relative to the canvas) where a RAS point is drawn in the viewer's 2D view: the
// same mapping NiiVue uses for its crosshair lines (tests and benchmark click there).
const SWIZZLE = { 0: [0, 1], 1: [0, 2], 2: [1, 2] };

function screenOf(viewer, ras) {
  const nv = viewer.nv;
  const tile = nv.screenSlices.find((t) => t.axCorSag <= 2);
  const [a, b] = SWIZZLE[tile.axCorSag];
  const [left, top, width, height] = tile.leftTopWidthHeight;
  const x = left + (ras[a] - tile.leftTopMM[0]) / tile.fovMM[0] * width;
  const y = top + height - (ras[b] - tile.leftTopMM[1]) / tile.fovMM[1] * height;
  const dpr = nv.uiData.dpr || 1;
  return [x / dpr, y / dpr];
}

// What renders WebGL here (tests check that a real WebGL 2 context exists).
function renderer(viewer) {
  const gl = viewer.nv.gl;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  return { webgl2: gl instanceof WebGL2RenderingContext,
    renderer: gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) };
}

// Whether the target marker ring is switched on in a viewer's shader.
function markerOn(viewer) {
  const gl = viewer.nv.gl;
  const program = viewer.nv.customSliceShader.program;
  return gl.getUniform(program, gl.getUniformLocation(program, "bclPointOn")) > 0.5;
}

const api = { store, view, stats, webgl2Available, viewers, crosshairAtVoxel, screenOf, renderer,
  markerOn, version: "1" };

export default function install() {
  if (!window.__bclViewer) {
    window.__bclViewer = api;
    (window.__bclViewerWaiting || []).forEach((resolve) => resolve(api));
    window.__bclViewerWaiting = [];
  }
  return undefined;
}
