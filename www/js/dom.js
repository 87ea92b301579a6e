// Small DOM helpers shared by the panels. No framework: the page is static ES modules.

/** `document.getElementById`, throwing when the page and the script disagree. */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el;
}

/** Create an element: `h("td", { class: "x", title: "y" }, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** HH:MM:SS (or HH:MM:SS.mmm with `ms`) of a Date or ms timestamp. */
export function clock(t = Date.now(), ms = false) {
  const d = t instanceof Date ? t : new Date(t);
  const s = d.toTimeString().slice(0, 8);
  return ms ? s + "." + String(d.getMilliseconds()).padStart(3, "0") : s;
}

/** Pretty JSON; strings that are not JSON stay as they are. */
export function pretty(v) {
  if (v === undefined) return "";
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

/** One-line JSON, shortened to `max` characters. */
export function brief(v, max = 120) {
  let s = typeof v === "string" ? v : JSON.stringify(v);
  if (s === undefined) s = String(v);
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/** `CODE (status): message` for hubwire errors, `message` for anything else. */
export function errorText(e) {
  if (!e) return "unknown error";
  const code = e.code ? String(e.code) : "";
  const status = e.status ? ` ${e.status}` : "";
  const msg = e.message || String(e);
  return code ? `${code}${status}: ${msg}` : msg;
}

/** Prepend a row to a list-like container and keep at most `max` rows. */
export function prependCapped(container, node, max = 100) {
  container.prepend(node);
  while (container.children.length > max) container.lastElementChild.remove();
}

/** Replay a short highlight animation on an element (desired twin updates, new C2D). */
export function flash(el, cls = "flash") {
  el.classList.remove(cls);
  // Reading layout restarts the CSS animation.
  void el.offsetWidth;
  el.classList.add(cls);
}

/**
 * Parse JSON from a textarea, marking it aria-invalid and writing the reason into
 * its error element (aria-describedby). Returns `{ ok, value }`.
 */
export function readJson(textarea, errorEl, { allowEmpty = false, emptyValue = null } = {}) {
  const text = textarea.value.trim();
  if (!text && allowEmpty) {
    textarea.removeAttribute("aria-invalid");
    if (errorEl) errorEl.textContent = "";
    return { ok: true, value: emptyValue };
  }
  try {
    const value = JSON.parse(text);
    textarea.removeAttribute("aria-invalid");
    if (errorEl) errorEl.textContent = "";
    return { ok: true, value };
  } catch (e) {
    textarea.setAttribute("aria-invalid", "true");
    if (errorEl) errorEl.textContent = `Invalid JSON: ${e.message}`;
    return { ok: false, value: undefined };
  }
}

/** Gaussian noise with standard deviation `sd` (Box–Muller). */
export function gaussian(sd) {
  if (!sd) return 0;
  let u = 0;
  while (u === 0) u = Math.random();
  const v = Math.random();
  return sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Round to `d` decimals. */
export function round(x, d = 2) {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Sliding-window event counter: `rate()` is events per second over the last `windowMs`. */
export class RateMeter {
  constructor(windowMs = 5000) {
    this.windowMs = windowMs;
    this.times = [];
  }
  mark(t = performance.now()) {
    this.times.push(t);
    this.trim(t);
  }
  trim(t) {
    const cut = t - this.windowMs;
    let i = 0;
    while (i < this.times.length && this.times[i] < cut) i++;
    if (i) this.times.splice(0, i);
  }
  rate(t = performance.now()) {
    this.trim(t);
    const n = this.times.length;
    if (n < 2) return 0;
    // n events span n-1 intervals; stretching the span to "now" makes a stopped stream decay.
    return ((n - 1) * 1000) / Math.max(t - this.times[0], 1);
  }
}
