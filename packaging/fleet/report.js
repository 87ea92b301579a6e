// The fleet's report: JSON (`--report`), the per-second timeline as CSV
// (`--csv`), the summary table printed on exit, and `hubwire fleet merge`,
// which adds the reports of several shards into one (counts summed, latency
// histograms merged, the shards checked to be disjoint and complete).

import { readFile } from "node:fs/promises";
import { FleetError } from "./errors.js";
import { Histogram } from "./histogram.js";
import { addCounts, STATES } from "./stats.js";

export const REPORT_KIND = "hubwire-fleet-report";
export const REPORT_VERSION = 1;

/** Failed operations over all operations (sends, connect attempts, twin reports). */
export function errorRate(totals) {
  const ops = totals.operations;
  return ops > 0 ? totals.errors / ops : 0;
}

export function operationsOf(sent, counters) {
  return sent + (counters.connectAttempts || 0) + (counters.reportedPatches || 0);
}

/** The CSV of a report's timeline. */
export function toCsv(report) {
  const cols = ["time", "t", ...STATES.filter((s) => s !== "stopped"), "sent", "acked", "errors", "ackP50Ms", "ackP99Ms", "rssMiB", "cpuCores"];
  const esc = (v) => (v == null ? "" : typeof v === "number" ? String(Math.round(v * 1000) / 1000) : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const lines = [cols.join(",")];
  for (const row of report.timeline) lines.push(cols.map((c) => esc(row[c] ?? (STATES.includes(c) ? row.states?.[c] : undefined))).join(","));
  return `${lines.join("\n")}\n`;
}

const n0 = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));
const f1 = (x) => (x == null ? "—" : x.toFixed(1));
const ms = (x) => (x == null ? "—" : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`);
const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(x < 0.001 && x > 0 ? 4 : 2)} %`);
const kib = (x) => (x == null ? "—" : `${(x / 1024).toFixed(1)} KiB`);
const mib = (x) => (x == null ? "—" : `${(x / 1048576).toFixed(1)} MiB`);

/** The table printed when a run (or a merge) ends. */
export function summaryTable(r) {
  const t = r.totals;
  const rows = [];
  const add = (k, v) => rows.push([k, v]);
  const shards = r.shards ? `${r.shards.length} shards merged` : `shard ${r.shard.index}/${r.shard.count}`;
  add("run", `${f1(r.durationSec)} s, stopped by ${r.stoppedBy}; ${shards}; ${r.workers ?? "?"} workers`);
  add("devices", `${n0(r.devices.count)} (${r.devices.first ?? "—"} … ${r.devices.last ?? "—"}), source ${r.devices.source}`);
  if (r.devices.registry) {
    const g = r.devices.registry;
    add("registry", `created ${n0(g.created)}, reused ${n0(g.reused)}, updated ${n0(g.updated)}, fetched ${n0(g.fetched)} in ${n0(g.calls)} calls, ${f1(g.ms / 1000)} s`);
  }
  const c = r.connect;
  add("connected", `${n0(c.connected)} of ${n0(r.devices.count)}${c.allConnectedMs != null ? `, all in ${f1(c.allConnectedMs / 1000)} s` : ""}; ${n0(c.failed)} gave up; connect p50 ${ms(c.latency.p50)} p99 ${ms(c.latency.p99)}`);
  add("messages", `sent ${n0(t.sent)}, acked ${n0(t.acked)}, failed ${n0(t.sendErrors)}${t.counters.duplicates ? `, duplicates ${n0(t.counters.duplicates)}` : ""}`);
  add("throughput", `${n0(r.rates.ackedPerSec)} acked/s, ${n0(r.rates.sentPerSec)} sent/s (${r.rates.window})`);
  add("ack latency", `p50 ${ms(r.latency.p50)}, p90 ${ms(r.latency.p90)}, p99 ${ms(r.latency.p99)}, max ${ms(r.latency.max)}`);
  add("errors", `${n0(t.errors)} of ${n0(t.operations)} operations = ${pct(t.errorRate)} (max ${pct(r.maxErrorRate)})${Object.keys(t.errorsByCode).length ? `: ${Object.entries(t.errorsByCode).map(([k, v]) => `${k} ×${v}`).join(", ")}` : ""}`);
  const cn = (k) => n0(t.counters[k] || 0);
  add("connection", `${cn("connects")} connects, ${cn("disconnects")} disconnects, ${cn("reconnects")} reconnect attempts`);
  const methods = Object.entries(t.methods || {}).map(([k, v]) => `${k} ×${v}`).join(", ");
  add("cloud → device", `${cn("c2d")} C2D, ${cn("desiredPatches")} desired patches (${cn("intervalChanges")} interval changes), methods ${methods || "none"}${t.counters.reboots ? `, ${cn("reboots")} reboots` : ""}`);
  add("twin", `${cn("reportedPatches")} reported patches, ${cn("reportedAcked")} acknowledged`);
  const p = r.process;
  if (p) add("process", `CPU ${f1(p.cpuShare * 100)} % of a core (steady), RSS ${mib(p.rssSteadyBytes)} (${kib(p.rssPerDeviceBytes)} per device over the ${mib(p.rssBaselineBytes)} baseline)`);
  const why = [...(r.problems || []), ...(t.errorRate > r.maxErrorRate ? [`error rate ${pct(t.errorRate)} is above ${pct(r.maxErrorRate)}`] : [])];
  add("result", r.passed ? "PASSED" : `FAILED: ${why.join("; ")}`);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

/** Reads and checks one report file. */
export async function readReport(path) {
  let r;
  try {
    r = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new FleetError("REPORT", `cannot read report ${path}: ${e.message}`);
  }
  if (!r || r.kind !== REPORT_KIND) throw new FleetError("REPORT", `${path} is not a hubwire fleet report (kind ${JSON.stringify(r && r.kind)})`);
  if (r.version !== REPORT_VERSION) throw new FleetError("REPORT", `${path}: report version ${r.version}; this hubwire reads ${REPORT_VERSION}`);
  for (const k of ["shard", "devices", "totals", "latency", "connect", "timeline"]) {
    if (r[k] === undefined) throw new FleetError("REPORT", `${path}: no ${k}`);
  }
  return r;
}

/**
 * Checks that `reports` are the shards of one run: same shard count, every
 * index present once, device slices disjoint and covering the whole range.
 * Returns a list of problems (empty when the set is complete).
 */
export function shardProblems(reports) {
  const problems = [];
  const counts = new Set(reports.map((r) => r.shard.count));
  if (counts.size > 1) problems.push(`shard counts differ: ${[...counts].join(", ")}`);
  const n = Math.max(...counts);
  const seen = new Map();
  for (const r of reports) {
    if (seen.has(r.shard.index)) problems.push(`shard ${r.shard.index}/${r.shard.count} appears twice (${seen.get(r.shard.index)} and ${r.file})`);
    seen.set(r.shard.index, r.file);
  }
  const missing = [];
  for (let i = 0; i < n; i++) if (!seen.has(i)) missing.push(i);
  if (missing.length) problems.push(`shard${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of ${n} missing`);
  const slices = reports.map((r) => ({ ...r.devices.slice, file: r.file, total: r.devices.total })).sort((a, b) => a.start - b.start);
  const totals = new Set(slices.map((s) => s.total));
  if (totals.size > 1) problems.push(`the reports cover different device ranges (${[...totals].join(", ")} devices)`);
  let at = 0;
  for (const s of slices) {
    if (s.start < at) problems.push(`device slices overlap: ${s.file} starts at ${s.start}, before ${at}`);
    else if (s.start > at) problems.push(`devices ${at}…${s.start - 1} are in no report`);
    at = Math.max(at, s.end);
  }
  const total = Math.max(...totals);
  if (at < total) problems.push(`devices ${at}…${total - 1} are in no report`);
  const sources = new Set(reports.map((r) => `${r.devices.source}:${r.devices.ids ? `${r.devices.ids.prefix}/${r.devices.ids.index}` : ""}`));
  if (sources.size > 1) problems.push(`the reports name different device sets: ${[...sources].join(", ")}`);
  return problems;
}

/** Adds shard reports into one report (with `shards` listing the parts and `problems`). */
export function mergeReports(reports, maxErrorRate) {
  if (!reports.length) throw new FleetError("REPORT", "nothing to merge");
  const problems = shardProblems(reports);
  const latency = new Histogram();
  const connectLatency = new Histogram();
  const totals = { sent: 0, acked: 0, errors: 0, sendErrors: 0, counters: {}, errorsByCode: {}, methods: {}, samples: {} };
  let devices = 0;
  let rssSteady = 0;
  let rssBaseline = 0;
  let cpu = 0;
  let ackedPerSec = 0;
  let sentPerSec = 0;
  let connected = 0;
  let failed = 0;
  let allConnectedMs = 0;
  let workers = 0;
  for (const r of reports) {
    latency.merge(r.latency.histogram);
    connectLatency.merge(r.connect.latency.histogram);
    totals.sent += r.totals.sent;
    totals.acked += r.totals.acked;
    totals.errors += r.totals.errors;
    totals.sendErrors += r.totals.sendErrors;
    addCounts(totals.counters, r.totals.counters);
    addCounts(totals.errorsByCode, r.totals.errorsByCode);
    addCounts(totals.methods, r.totals.methods);
    for (const [k, v] of Object.entries(r.totals.samples || {})) if (!(k in totals.samples)) totals.samples[k] = v;
    devices += r.devices.count;
    connected += r.connect.connected;
    failed += r.connect.failed;
    allConnectedMs = allConnectedMs === null || r.connect.allConnectedMs == null ? null : Math.max(allConnectedMs, r.connect.allConnectedMs);
    ackedPerSec += r.rates.ackedPerSec || 0;
    sentPerSec += r.rates.sentPerSec || 0;
    workers += r.workers || 0;
    if (r.process) {
      rssSteady += r.process.rssSteadyBytes || 0;
      rssBaseline += r.process.rssBaselineBytes || 0;
      cpu += r.process.cpuShare || 0;
    }
  }
  totals.operations = reports.reduce((s, r) => s + r.totals.operations, 0);
  totals.errorRate = totals.operations ? totals.errors / totals.operations : 0;
  const limit = maxErrorRate ?? Math.min(...reports.map((r) => r.maxErrorRate));
  // The timeline: rows of the same wall-clock second added up.
  const bySecond = new Map();
  for (const r of reports) {
    for (const row of r.timeline) {
      const sec = Math.floor(Date.parse(row.time) / 1000);
      const acc = bySecond.get(sec) || { time: new Date(sec * 1000).toISOString(), states: {}, sent: 0, acked: 0, errors: 0, rssMiB: 0, cpuCores: 0, shards: 0 };
      addCounts(acc.states, row.states);
      acc.sent += row.sent;
      acc.acked += row.acked;
      acc.errors += row.errors;
      acc.rssMiB += row.rssMiB || 0;
      acc.cpuCores += row.cpuCores || 0;
      acc.shards++;
      bySecond.set(sec, acc);
    }
  }
  const secs = [...bySecond.keys()].sort((a, b) => a - b);
  const timeline = secs.map((s) => ({ ...bySecond.get(s), t: s - secs[0] }));
  const started = reports.map((r) => r.startedAt).sort()[0];
  const ended = reports.map((r) => r.endedAt).sort().at(-1);
  const stoppedBy = [...new Set(reports.map((r) => r.stoppedBy))].join("+");
  const first = reports.slice().sort((a, b) => a.devices.slice.start - b.devices.slice.start);
  return {
    kind: REPORT_KIND,
    version: REPORT_VERSION,
    merged: true,
    tool: reports[0].tool,
    startedAt: started,
    endedAt: ended,
    durationSec: (Date.parse(ended) - Date.parse(started)) / 1000,
    stoppedBy,
    shard: { index: 0, count: reports[0].shard.count },
    shards: reports.map((r) => ({ file: r.file, index: r.shard.index, count: r.shard.count, host: r.host, devices: r.devices.count, slice: r.devices.slice, passed: r.passed, stoppedBy: r.stoppedBy })).sort((a, b) => a.index - b.index),
    problems,
    workers,
    devices: {
      source: reports[0].devices.source,
      total: reports[0].devices.total,
      count: devices,
      slice: { start: Math.min(...reports.map((r) => r.devices.slice.start)), end: Math.max(...reports.map((r) => r.devices.slice.end)) },
      first: first[0].devices.first,
      last: first.at(-1).devices.last,
      ids: reports[0].devices.ids,
    },
    connect: { connected, failed, allConnectedMs, latency: { ...connectLatency.summary(), histogram: connectLatency.toJSON() } },
    totals,
    latency: { ...latency.summary(), histogram: latency.toJSON() },
    rates: { ackedPerSec, sentPerSec, window: "sum of the shards' steady windows" },
    process: { cpuShare: cpu, rssSteadyBytes: rssSteady, rssBaselineBytes: rssBaseline, rssPerDeviceBytes: devices ? (rssSteady - rssBaseline) / devices : null },
    timeline,
    maxErrorRate: limit,
    passed: problems.length === 0 && totals.errorRate <= limit,
  };
}
