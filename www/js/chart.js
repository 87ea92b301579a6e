// Live charts with uPlot (vendored in ../vendor/uplot). See docs/dashboard.md for why uPlot.

import uPlot from "../vendor/uplot/uPlot.esm.js";

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function axisStyle() {
  const fg = cssVar("--muted", "#667");
  const grid = cssVar("--grid", "rgba(0,0,0,0.07)");
  return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

/** Keep a uPlot instance as wide as its container. */
function autosize(plot, container, height) {
  const ro = new ResizeObserver(() => {
    const w = Math.max(240, Math.floor(container.clientWidth));
    if (w !== plot.width) plot.setSize({ width: w, height });
  });
  ro.observe(container);
  return ro;
}

/**
 * A uPlot chart of `data` in `container`: as wide as the container (and kept so by
 * `autosize`), `height` tall, no drag-zoom, a static legend; `opts` adds the scales,
 * series and axes.
 */
function livePlot(container, height, data, opts) {
  const plot = new uPlot(
    {
      width: Math.max(240, container.clientWidth || 600),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      ...opts,
    },
    data,
    container,
  );
  autosize(plot, container, height);
  return plot;
}

/**
 * Chart of sent sensor values: time on x, temperature on a °C scale, humidity and
 * battery on a % scale. Points are appended as they are sent and kept for `windowSec`.
 */
export class TelemetryChart {
  constructor(container, { windowSec = 120, height = 260, onPoints } = {}) {
    this.container = container;
    this.windowSec = windowSec;
    this.onPoints = onPoints;
    this.keys = ["temperature", "humidity", "battery"];
    this.data = [[], [], [], []];
    this.total = 0;
    this.pending = false;
    const colors = [cssVar("--c-temp", "#e8590c"), cssVar("--c-hum", "#1c7ed6"), cssVar("--c-bat", "#2b8a3e")];
    const ax = axisStyle();
    this.plot = livePlot(container, height, this.data, {
      scales: {
        x: { time: true },
        c: { range: (u, min, max) => (min == null ? [15, 30] : [Math.floor(min - 0.5), Math.ceil(max + 0.5)]) },
        // Humidity and battery share a % axis, padded around what is shown, within 0..100.
        p: { range: (u, min, max) => (min == null ? [0, 100] : [Math.max(0, Math.floor(min / 10) * 10 - 10), Math.min(100, Math.ceil(max / 10) * 10 + 10)]) },
      },
      series: [
        {},
        { label: "temperature °C", scale: "c", stroke: colors[0], width: 2, spanGaps: true, points: { show: false }, value: (u, v) => (v == null ? "–" : v.toFixed(2)) },
        { label: "humidity %", scale: "p", stroke: colors[1], width: 2, spanGaps: true, points: { show: false }, value: (u, v) => (v == null ? "–" : v.toFixed(1)) },
        { label: "battery %", scale: "p", stroke: colors[2], width: 2, spanGaps: true, points: { show: false }, value: (u, v) => (v == null ? "–" : v.toFixed(1)) },
      ],
      axes: [
        { ...ax },
        { ...ax, scale: "c", label: "°C", size: 50, values: (u, vals) => vals.map((v) => v.toFixed(1)) },
        { ...ax, scale: "p", side: 1, label: "%", size: 50, grid: { show: false } },
      ],
    });
  }

  /** Append one sent value (`key` is temperature | humidity | battery) at time `t` (ms). */
  add(key, value, t = Date.now()) {
    const col = this.keys.indexOf(key) + 1;
    if (col < 1 || typeof value !== "number") return;
    const x = t / 1000;
    const d = this.data;
    d[0].push(x);
    for (let i = 1; i < d.length; i++) d[i].push(i === col ? value : null);
    this.total++;
    const cut = x - this.windowSec;
    let drop = 0;
    while (drop < d[0].length && d[0][drop] < cut) drop++;
    if (d[0].length - drop > 3000) drop = d[0].length - 3000;
    if (drop) for (const arr of d) arr.splice(0, drop);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.plot.setData(this.data);
      if (this.onPoints) this.onPoints(this.data[0].length, this.total);
    });
  }
}

/** Fleet throughput: sent/s, acked/s, errors/s per second for the last `windowSec`. */
export class RateChart {
  constructor(container, { windowSec = 60, height = 180 } = {}) {
    this.windowSec = windowSec;
    this.data = [[], [], [], []];
    const ax = axisStyle();
    this.plot = livePlot(container, height, this.data, {
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(5, max * 1.15)] } },
      series: [
        {},
        { label: "sent/s", stroke: cssVar("--accent", "#0f62fe"), width: 2, points: { show: false } },
        { label: "acked/s", stroke: cssVar("--ok", "#2b8a3e"), width: 2, dash: [6, 4], points: { show: false } },
        { label: "errors/s", stroke: cssVar("--bad", "#c92a2a"), width: 2, points: { show: false } },
      ],
      axes: [{ ...ax }, { ...ax, size: 50 }],
    });
  }

  add(t, sent, acked, errors) {
    const d = this.data;
    d[0].push(t / 1000);
    d[1].push(sent);
    d[2].push(acked);
    d[3].push(errors);
    while (d[0].length > this.windowSec) for (const arr of d) arr.shift();
    this.plot.setData(d);
  }

  clear() {
    for (const arr of this.data) arr.length = 0;
    this.plot.setData(this.data);
  }
}
