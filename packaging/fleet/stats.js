// Counters of a fleet: per worker (reset into deltas every progress tick) and
// in the main thread (totals and the per-second timeline).

import { Histogram } from "./histogram.js";

/** Device states, in the order the progress line and the report list them. */
export const STATES = ["pending", "connecting", "connected", "reconnecting", "rebooting", "disconnected", "failed", "stopped"];

/** A worker's counters since the last `takeDelta()`; device states are absolute. */
export class Stats {
  constructor() {
    this.states = Object.fromEntries(STATES.map((s) => [s, 0]));
    this.reset();
    this.samples = {};
  }

  reset() {
    this.sent = 0;
    this.acked = 0;
    this.errors = 0;
    this.counters = {};
    this.codes = {};
    this.latency = new Histogram();
    this.connectLatency = new Histogram();
  }

  moveState(from, to) {
    this.states[from]--;
    this.states[to]++;
  }

  count(name, n = 1) {
    this.counters[name] = (this.counters[name] || 0) + n;
  }

  countCode(group, code) {
    const g = (this.codes[group] ??= {});
    g[code] = (g[code] || 0) + 1;
  }

  /** One failed operation: `kind` is connect, send, twin or template. */
  error(kind, e) {
    this.errors++;
    const code = `${kind}:${(e && e.code) || "ERROR"}`;
    this.countCode("errors", code);
    if (!(code in this.samples)) this.samples[code] = String((e && e.message) || e).slice(0, 300);
  }

  /** The counts since the last call (plain data for postMessage), then zeroes them. */
  takeDelta() {
    const d = {
      sent: this.sent,
      acked: this.acked,
      errors: this.errors,
      counters: this.counters,
      codes: this.codes,
      latency: this.latency.count ? this.latency.toJSON() : null,
      connectLatency: this.connectLatency.count ? this.connectLatency.toJSON() : null,
      states: { ...this.states },
      samples: this.samples,
    };
    this.samples = {};
    this.reset();
    return d;
  }
}

/** Adds `b`'s numbers into `a` (nested objects of counts). */
export function addCounts(a, b) {
  for (const [k, v] of Object.entries(b || {})) {
    if (typeof v === "number") a[k] = (a[k] || 0) + v;
    else if (v && typeof v === "object") addCounts((a[k] ??= {}), v);
  }
  return a;
}

/** The main thread's totals over all workers. */
export class Totals {
  constructor() {
    this.sent = 0;
    this.acked = 0;
    this.errors = 0;
    this.counters = {};
    this.codes = {};
    this.samples = {};
    this.latency = new Histogram();
    this.connectLatency = new Histogram();
  }

  add(d) {
    this.sent += d.sent;
    this.acked += d.acked;
    this.errors += d.errors;
    addCounts(this.counters, d.counters);
    addCounts(this.codes, d.codes);
    for (const [k, v] of Object.entries(d.samples || {})) if (!(k in this.samples)) this.samples[k] = v;
    if (d.latency) this.latency.merge(d.latency);
    if (d.connectLatency) this.connectLatency.merge(d.connectLatency);
  }
}
