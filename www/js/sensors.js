// Simulated sensors: each produces a value on its own timer and hands it to `send`.
// The interval is live: changing it (by hand or through the setTelemetryInterval method)
// reschedules the next send immediately.

import { gaussian, round, RateMeter } from "./dom.js";

/** Sensor definitions: what a reading looks like and how noise applies to it. */
export const SENSOR_KINDS = [
  {
    key: "temperature",
    label: "Temperature",
    unit: "°C",
    noise: { min: 0, max: 3, step: 0.05, value: 0.3 },
    // A slow ±1.5 °C wave around 22 °C, one period per minute.
    make: (s, t) => round(22 + 1.5 * Math.sin((2 * Math.PI * t) / 60000) + gaussian(s.noise), 2),
  },
  {
    key: "humidity",
    label: "Humidity",
    unit: "%",
    noise: { min: 0, max: 10, step: 0.1, value: 1 },
    make: (s, t) => round(Math.min(100, Math.max(0, 45 + 6 * Math.cos((2 * Math.PI * t) / 90000) + gaussian(s.noise))), 1),
  },
  {
    key: "battery",
    label: "Battery",
    unit: "%",
    noise: { min: 0, max: 2, step: 0.05, value: 0.1 },
    // Drains 0.2 % per reading; a reboot recharges it (the demo's idea of a battery swap).
    make: (s) => {
      s.level = Math.max(0, (s.level ?? 100) - 0.2);
      return round(Math.min(100, Math.max(0, s.level + gaussian(s.noise))), 1);
    },
  },
  {
    key: "custom",
    label: "Custom JSON",
    unit: "",
    noise: { min: 0, max: 5, step: 0.1, value: 0 },
    custom: true,
  },
];

/** Add noise to every number in a JSON value and substitute "$seq" / "$now" strings. */
export function renderTemplate(value, noise, seq) {
  if (typeof value === "number") return noise ? round(value + gaussian(noise), 3) : value;
  if (value === "$seq") return seq;
  if (value === "$now") return new Date().toISOString();
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, noise, seq));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderTemplate(v, noise, seq);
    return out;
  }
  return value;
}

/** One running sensor. `send(sensor, reading)` is called on every tick. */
export class Sensor {
  constructor(kind, { intervalSec, send, getTemplate }) {
    this.kind = kind;
    this.key = kind.key;
    this.noise = kind.noise.value;
    this.intervalSec = intervalSec;
    this.running = false;
    this.timer = null;
    this.lastSent = 0;
    this.seq = 0;
    this.send = send;
    this.getTemplate = getTemplate;
    this.meter = new RateMeter(6000);
    this.last = null;
  }

  /** Next reading: `{ body, value }` where value is what the chart shows (or null). */
  reading() {
    this.seq++;
    if (this.kind.custom) {
      const tpl = this.getTemplate();
      return { body: renderTemplate(tpl, this.noise, this.seq), value: null };
    }
    const value = this.kind.make(this, Date.now());
    return { body: { [this.key]: value }, value };
  }

  tick() {
    this.timer = null;
    if (!this.running) return;
    let r;
    try {
      r = this.reading();
    } catch (e) {
      this.running = false;
      this.send(this, null, e);
      return;
    }
    this.last = r;
    this.lastSent = performance.now();
    this.meter.mark(this.lastSent);
    this.send(this, r);
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.running) return;
    const due = this.lastSent ? this.lastSent + this.intervalSec * 1000 : 0;
    const wait = Math.max(0, due - performance.now());
    this.timer = setTimeout(() => this.tick(), wait);
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.lastSent = 0;
    this.schedule();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  setInterval(sec) {
    this.intervalSec = sec;
    this.schedule();
  }

  rate() {
    return this.running ? this.meter.rate() : 0;
  }
}
