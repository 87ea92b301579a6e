// `hubwire fleet`: the main thread. It checks the template and handlers,
// resolves this shard's identities, starts one worker thread per core with a
// share of the devices, ramps their connects, prints the live line, stops on
// --duration / --messages / Ctrl-C (every device disconnects), and writes the
// report.

import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { getHeapStatistics } from "node:v8";
import { Worker } from "node:worker_threads";
import { FleetError } from "./errors.js";
import { loadHandlers } from "./handlers.js";
import { Histogram } from "./histogram.js";
import { resolveIdentities } from "./identities.js";
import { findClient } from "./load-client.js";
import { progressLine, ProgressWriter } from "./progress.js";
import { errorRate, operationsOf, REPORT_KIND, REPORT_VERSION, summaryTable, toCsv } from "./report.js";
import { splitEven } from "./shard.js";
import { STATES, Totals } from "./stats.js";
import { compileTemplate, DEFAULT_TEMPLATE, loadTemplateFile } from "./template.js";
import { VERSION } from "./version.js";

const WORKER_URL = new URL("./worker.js", import.meta.url);
const READY_TIMEOUT_MS = 120_000;

/** Exit statuses (docs/fleet.md). */
export const EXIT = { OK: 0, ERROR_RATE: 1, USAGE: 2, FATAL: 3, SIGINT: 130, SIGTERM: 143 };

/** Options the workers need (plain data). */
function workerOptions(o) {
  return {
    url: o.url,
    allowInsecure: o.allowInsecure,
    clientOptions: o.clientOptions,
    websocket: o.websocket,
    template: o.template,
    interval: o.interval,
    intervalSpread: o.intervalSpread,
    payloadSize: o.payloadSize,
    seed: o.seed,
    messages: o.messages,
    methods: o.methods,
    twin: o.twin,
    shard: o.shard,
    tickMs: o.tickMs,
    stopTimeoutMs: o.stopTimeoutMs,
    maxPendingConnects: o.maxPendingConnects,
  };
}

/**
 * Runs a fleet. Resolves `{ report, exitCode }`; throws FleetError for bad
 * options, templates, handlers or identities (before any device connects).
 * @param {object} o parsed options (args.js)
 * @param {{ stderr?: NodeJS.WriteStream, stdout?: NodeJS.WriteStream, signals?: boolean }} [io]
 */
export async function runFleet(o, io = {}) {
  const stderr = io.stderr || process.stderr;
  const stdout = io.stdout || process.stdout;
  const pw = new ProgressWriter(stderr, o.progress);
  const log = (s) => pw.log(`[fleet] ${s}`);
  const startedAt = new Date();

  const spec = o.template ? await loadTemplateFile(o.template) : DEFAULT_TEMPLATE;
  const template = compileTemplate(spec, { interval: o.interval, intervalSpread: o.intervalSpread, payloadSize: o.payloadSize, seed: o.seed });
  if (o.methods) await loadHandlers(o.methods);
  const client = findClient(o.client);

  let interrupted = null;
  const early = (sig) => {
    interrupted = sig;
    log(`${sig} while creating devices: stopping (a rerun reuses the devices created so far)`);
    process.exit(sig === "SIGINT" ? EXIT.SIGINT : EXIT.SIGTERM);
  };
  if (io.signals !== false) {
    process.once("SIGINT", early);
    process.once("SIGTERM", early);
  }
  const ids = await resolveIdentities(o, log, client);
  if (io.signals !== false) {
    process.off("SIGINT", early);
    process.off("SIGTERM", early);
  }
  if (interrupted) return { report: null, exitCode: EXIT.SIGINT };

  const devices = ids.devices;
  const n = devices.length;
  const workerCount = Math.max(1, Math.min(o.workers, n));
  const totals = new Totals();
  const workerStates = Array.from({ length: workerCount }, () => Object.fromEntries(STATES.map((s) => [s, 0])));
  const timeline = [];
  let tick = { sent: 0, acked: 0, errors: 0, latency: new Histogram() };
  const first = devices[0]?.id ?? null;
  const last = devices[n - 1]?.id ?? null;
  log(`${n.toLocaleString("en-US")} devices (${first ?? "none"} … ${last ?? ""}), shard ${o.shard.index}/${o.shard.count}, ${workerCount} worker${workerCount > 1 ? "s" : ""}, hubwire from ${client.path}`);

  const workers = [];
  const finals = new Map();
  const workerHeaps = [];
  const readyHeaps = [];
  const exitedWorkers = new Set();
  let stopReason = null;
  let fatal = null;
  let resolveStopped;
  const stopped = new Promise((r) => (resolveStopped = r));
  let goAt = 0;
  let allConnectedAt = null;
  const connectedAt = new Map();
  const doneWorkers = new Set();
  let steady = null;
  let steadyEnd = null;
  let rssBaseline = 0;
  let rssPeak = 0;
  let cpuRun0 = null;

  const onMessage = (m) => {
    if (m.type === "stats" || m.type === "final") {
      if (m.type === "stats" && m.heap) workerHeaps[m.worker] = m.heap;
      totals.add(m.delta);
      workerStates[m.worker] = m.delta.states;
      tick.sent += m.delta.sent;
      tick.acked += m.delta.acked;
      tick.errors += m.delta.errors;
      if (m.delta.latency) tick.latency.merge(m.delta.latency);
      if (m.type === "final") finals.get(m.worker)?.();
    } else if (m.type === "allConnected") {
      connectedAt.set(m.worker ?? connectedAt.size, m.t);
      if (connectedAt.size === workerCount && allConnectedAt === null) {
        allConnectedAt = Math.max(...connectedAt.values());
        steady = { t: performance.now(), cpu: process.cpuUsage(), acked: totals.acked, sent: totals.sent };
        log(`all ${n.toLocaleString("en-US")} devices connected in ${((allConnectedAt - goAt) / 1000).toFixed(1)} s`);
      }
    } else if (m.type === "allDone") {
      doneWorkers.add(m.worker ?? doneWorkers.size);
      if (doneWorkers.size === workerCount) stop("messages");
    } else if (m.type === "fatal") {
      fatal = new FleetError(m.code && m.code in { TEMPLATE: 1, HANDLERS: 1, CLIENT: 1 } ? m.code : "CLIENT", `worker ${m.worker}: ${m.error}`);
      stop("fatal");
    }
  };

  // Start the workers and wait until each has loaded hubwire, the template and the handlers.
  const parts = splitEven(devices, workerCount);
  const ready = parts.map(
    (part, i) =>
      new Promise((resolve, reject) => {
        const w = new Worker(WORKER_URL, { workerData: { worker: i, devices: part, options: workerOptions(o), client } });
        workers.push(w);
        const timer = setTimeout(() => reject(new FleetError("CLIENT", `worker ${i} not ready after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
        w.on("message", (m) => {
          if (m.type === "ready") {
            readyHeaps[i] = m.heap;
            clearTimeout(timer);
            resolve();
          } else if (m.type === "fatal" && !goAt) {
            clearTimeout(timer);
            reject(new FleetError(m.code in { TEMPLATE: 1, HANDLERS: 1 } ? m.code : "CLIENT", `worker ${i}: ${m.error}`));
          } else {
            onMessage({ ...m, worker: m.worker ?? i });
          }
        });
        w.on("error", (e) => {
          clearTimeout(timer);
          if (!goAt) reject(new FleetError("CLIENT", `worker ${i} failed: ${e.message}`));
          else {
            fatal = new FleetError("CLIENT", `worker ${i} failed: ${e.stack || e.message}`);
            finals.get(i)?.();
            stop("fatal");
          }
        });
        w.on("exit", () => {
          exitedWorkers.add(i);
          finals.get(i)?.();
        });
      }),
  );
  try {
    await Promise.all(ready);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }

  rssBaseline = process.memoryUsage.rss();
  const mh = getHeapStatistics();
  const sumReady = (k) => readyHeaps.reduce((a, h) => a + ((h && h[k]) || 0), 0);
  const baselineMemory = {
    mainHeapUsedBytes: mh.used_heap_size,
    mainHeapTotalBytes: mh.total_heap_size,
    workersHeapUsedBytes: sumReady("used"),
    workersHeapTotalBytes: sumReady("total"),
    workersExternalBytes: sumReady("external"),
  };
  cpuRun0 = process.cpuUsage();
  goAt = Date.now();
  const t0 = performance.now();
  let lastTickAt = t0;
  let cpuTick = process.cpuUsage();
  const rampEach = o.rampPerSec / workerCount;
  for (const w of workers) w.postMessage({ type: "go", rampPerSec: rampEach });
  if (n === 0) {
    log(`shard ${o.shard.index}/${o.shard.count} has no devices`);
    queueMicrotask(() => stop("no devices"));
  }
  log(`connecting at ${o.rampPerSec > 0 ? `${o.rampPerSec}/s` : "full speed"}${o.duration ? `, running ${o.duration} s` : ""}${o.messages ? `, ${o.messages} messages per device` : ""}; Ctrl-C stops`);

  const sumStates = () => {
    const s = Object.fromEntries(STATES.map((k) => [k, 0]));
    for (const ws of workerStates) for (const k of STATES) s[k] += ws[k] || 0;
    return s;
  };
  const flushTick = () => {
    const now = performance.now();
    const dt = Math.max(1e-3, (now - lastTickAt) / 1000);
    lastTickAt = now;
    const cpu = process.cpuUsage(cpuTick);
    cpuTick = process.cpuUsage();
    const rss = process.memoryUsage.rss();
    rssPeak = Math.max(rssPeak, rss);
    const lat = tick.latency.summary();
    const row = {
      time: new Date().toISOString(),
      t: (now - t0) / 1000,
      states: sumStates(),
      sent: tick.sent,
      acked: tick.acked,
      errors: tick.errors,
      ackP50Ms: lat.p50,
      ackP99Ms: lat.p99,
      rssMiB: rss / 1048576,
      cpuCores: (cpu.user + cpu.system) / 1e6 / dt,
      dtSec: dt,
    };
    tick = { sent: 0, acked: 0, errors: 0, latency: new Histogram() };
    timeline.push(row);
    return row;
  };
  const ticker = setInterval(() => {
    const row = flushTick();
    const c = totals.counters;
    pw.update(progressLine(row, row.dtSec, { c2d: c.c2d, methods: Object.values(totals.codes.methods || {}).reduce((a, b) => a + b, 0) }), row.t);
  }, o.tickMs);

  function stop(reason) {
    if (stopReason) return;
    stopReason = reason;
    const mainHeap = getHeapStatistics();
    const sum = (k) => workerHeaps.reduce((a, h) => a + ((h && h[k]) || 0), 0);
    steadyEnd = {
      t: performance.now(),
      cpu: process.cpuUsage(),
      acked: totals.acked,
      sent: totals.sent,
      rss: process.memoryUsage.rss(),
      // Where the memory is: V8 heaps (main thread, workers) and their external memory
      // (Buffers, each worker's wasm instance); the rest of RSS is native (sockets, code, stacks).
      memory: {
        mainHeapUsedBytes: mainHeap.used_heap_size,
        mainHeapTotalBytes: mainHeap.total_heap_size,
        workersHeapUsedBytes: sum("used"),
        workersHeapTotalBytes: sum("total"),
        workersExternalBytes: sum("external"),
      },
    };
    resolveStopped();
  }
  const durationTimer = o.duration ? setTimeout(() => stop("duration"), o.duration * 1000) : null;
  let signalCount = 0;
  const onSignal = (sig) => {
    signalCount++;
    if (signalCount === 1) {
      log(`${sig}: disconnecting ${n.toLocaleString("en-US")} devices (again to quit at once)`);
      stop(sig);
    } else {
      log(`${sig} again: quitting without waiting for the devices`);
      forced = true;
      for (const f of finals.values()) f();
    }
  };
  let forced = false;
  if (io.signals !== false) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  await stopped;
  clearTimeout(durationTimer);
  // Every worker disconnects its devices and sends its last counts.
  const finalWait = parts.map(
    (_, i) =>
      new Promise((r) => {
        finals.set(i, r);
        if (exitedWorkers.has(i)) r();
      }),
  );
  for (const w of workers) w.postMessage({ type: "stop" });
  const giveUp = setTimeout(() => {
    log("some devices did not disconnect in time; ending their workers");
    for (const f of finals.values()) f();
  }, o.stopTimeoutMs + 5000);
  await Promise.all(finalWait);
  clearTimeout(giveUp);
  clearInterval(ticker);
  flushTick();
  pw.end();
  await Promise.all(workers.map((w) => w.terminate()));
  if (io.signals !== false) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }

  const endedAt = new Date();
  const c = totals.counters;
  const opsTotal = operationsOf(totals.sent, c);
  const sendErrors = Object.entries(totals.codes.errors || {}).filter(([k]) => k.startsWith("send:")).reduce((s, [, v]) => s + v, 0);
  const t = {
    sent: totals.sent,
    acked: totals.acked,
    errors: totals.errors,
    sendErrors,
    operations: opsTotal,
    counters: c,
    errorsByCode: totals.codes.errors || {},
    disconnectCodes: totals.codes.disconnectCodes || {},
    methods: totals.codes.methods || {},
    methodErrors: totals.codes.methodErrors || {},
    samples: totals.samples,
  };
  t.errorRate = errorRate(t);
  const win = steady && steadyEnd && steadyEnd.t - steady.t > 500 ? steady : { t: t0, cpu: cpuRun0, acked: 0, sent: 0 };
  const winSec = steadyEnd ? Math.max(1e-3, (steadyEnd.t - win.t) / 1000) : null;
  const cpuWin = steadyEnd ? (steadyEnd.cpu.user - win.cpu.user + steadyEnd.cpu.system - win.cpu.system) / 1e6 : null;
  const finalStates = sumStates();
  const report = {
    kind: REPORT_KIND,
    version: REPORT_VERSION,
    tool: { name: "hubwire fleet", version: VERSION, node: process.version },
    host: hostname(),
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationSec: (endedAt - startedAt) / 1000,
    stoppedBy: forced ? `${stopReason} (forced)` : stopReason,
    fatal: fatal ? fatal.message : undefined,
    shard: o.shard,
    workers: workerCount,
    devices: {
      source: ids.source,
      hostName: ids.hostName,
      total: ids.total,
      slice: ids.slice,
      count: n,
      first,
      last,
      ids: ids.source === "file" ? { file: o.connectionStrings } : { prefix: o.prefix, index: o.index, pad: o.pad, ...(ids.source === "dps" ? { idScope: o.idScope } : {}) },
      registry: ids.registry,
      dps: ids.dps,
    },
    config: {
      url: o.url ?? null,
      rampPerSec: o.rampPerSec,
      duration: o.duration ?? null,
      messages: o.messages,
      interval: o.interval ?? null,
      payloadSize: o.payloadSize ?? null,
      template: o.template ?? "(default)",
      templateSummary: template.describe(),
      methods: o.methods ?? null,
      twin: o.twin,
      seed: o.seed ?? null,
      websocket: o.websocket,
    },
    connect: {
      connected: c.firstConnects || 0,
      failed: finalStates.failed,
      allConnectedMs: allConnectedAt === null ? null : allConnectedAt - goAt,
      latency: { ...totals.connectLatency.summary(), histogram: totals.connectLatency.toJSON() },
    },
    totals: t,
    latency: { ...totals.latency.summary(), histogram: totals.latency.toJSON() },
    rates: {
      window: win === steady ? "from all connected to stop" : "whole run (not every device connected)",
      windowSec: winSec,
      // Workers report every tick, so the last acks arrive with their final counts.
      ackedPerSec: winSec ? (totals.acked - win.acked) / winSec : null,
      sentPerSec: winSec ? (totals.sent - win.sent) / winSec : null,
    },
    process: {
      cpuShare: winSec ? cpuWin / winSec : null,
      cpuSeconds: (() => {
        const u = process.cpuUsage(cpuRun0);
        return (u.user + u.system) / 1e6;
      })(),
      rssBaselineBytes: rssBaseline,
      rssSteadyBytes: steadyEnd ? steadyEnd.rss : null,
      rssPeakBytes: rssPeak,
      rssPerDeviceBytes: steadyEnd && n ? (steadyEnd.rss - rssBaseline) / n : null,
      memoryAtStop: steadyEnd ? steadyEnd.memory : null,
      baseline: baselineMemory,
    },
    timeline: timeline.map(({ dtSec, ...row }) => row),
    maxErrorRate: o.maxErrorRate,
  };
  report.passed = !fatal && t.errorRate <= o.maxErrorRate;
  if (o.report) await writeFile(o.report, `${JSON.stringify(report, null, 2)}\n`);
  if (o.csv) await writeFile(o.csv, toCsv(report));
  stdout.write(`${summaryTable(report)}\n`);
  if (fatal) stderr.write(`hubwire fleet: ${fatal.message}\n`);
  for (const [code, msg] of Object.entries(t.samples)) log(`first ${code}: ${msg}`);
  if (o.report || o.csv) log(`wrote ${[o.report, o.csv].filter(Boolean).join(" and ")}`);
  let exitCode = EXIT.OK;
  if (fatal) exitCode = EXIT.FATAL;
  else if (!report.passed) exitCode = EXIT.ERROR_RATE;
  else if (stopReason === "SIGINT") exitCode = EXIT.SIGINT;
  else if (stopReason === "SIGTERM") exitCode = EXIT.SIGTERM;
  return { report, exitCode };
}
