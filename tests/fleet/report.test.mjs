// Latency histograms (exact merges) and report merging across shards.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bucketOf, bucketRange, Histogram } from "../../packaging/fleet/histogram.js";
import { mergeReports, readReport, REPORT_KIND, REPORT_VERSION, shardProblems, summaryTable, toCsv } from "../../packaging/fleet/report.js";
import { shardSlice } from "../../packaging/fleet/shard.js";
import { STATES } from "../../packaging/fleet/stats.js";

test("histogram_buckets_cover_values_within_3_percent_succeeds", () => {
  let prevHi = -1;
  for (let b = 0; b < 896; b++) {
    const [lo, hi] = bucketRange(b);
    assert.equal(lo, prevHi + 1, `bucket ${b} starts after ${b - 1}`);
    assert.ok(hi >= lo);
    assert.equal(bucketOf(lo), b);
    assert.equal(bucketOf(hi), b);
    if (lo > 0) assert.ok((hi - lo) / lo <= 1 / 32 + 1e-9, `bucket ${b} [${lo}, ${hi}] is narrow`);
    prevHi = hi;
  }
  assert.equal(bucketOf(-5), 0);
  assert.equal(bucketOf(1e12), bucketOf(2 ** 32 - 1), "values past ~71 min land in the last bucket");
});

test("histogram_quantiles_match_samples_succeeds", () => {
  const h = new Histogram();
  const xs = [];
  let seed = 7;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const ms = 0.2 + (seed / 2 ** 31) ** 3 * 50; // skewed, like ack latencies
    xs.push(ms);
    h.record(ms);
  }
  xs.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = xs[Math.ceil(q * xs.length) - 1];
    assert.ok(Math.abs(h.quantile(q) - exact) / exact < 0.035, `p${q * 100}: ${h.quantile(q)} vs ${exact}`);
  }
  const s = h.summary();
  assert.equal(s.count, 20000);
  assert.ok(Math.abs(s.mean - xs.reduce((a, b) => a + b, 0) / xs.length) < 1e-6);
  assert.ok(Math.abs(s.max - xs.at(-1)) < 1e-9);
  assert.equal(new Histogram().quantile(0.5), null);
});

test("histogram_merge_equals_one_histogram_of_all_samples_succeeds", () => {
  const all = new Histogram();
  const parts = [new Histogram(), new Histogram(), new Histogram()];
  for (let i = 0; i < 3000; i++) {
    const ms = (i % 97) * 0.37 + (i % 3) * 20;
    all.record(ms);
    parts[i % 3].record(ms);
  }
  const merged = new Histogram();
  for (const p of parts) merged.merge(JSON.parse(JSON.stringify(p.toJSON())));
  assert.deepEqual(merged.toJSON(), all.toJSON());
  assert.deepEqual(merged.summary(), all.summary());
  assert.throws(() => Histogram.fromJSON({ buckets: { x: 1 } }), TypeError);
});

/** A report of shard `index`/`count` of `total` devices, as run.js writes it. */
function fakeReport(index, count, total, { sent = 100, errors = 0, latencies = [1, 2, 3], t0 = Date.UTC(2024, 0, 1) } = {}) {
  const { start, end } = shardSlice(total, index, count);
  const lat = new Histogram();
  for (const x of latencies) lat.record(x);
  const conn = new Histogram();
  conn.record(50);
  const states = Object.fromEntries(STATES.map((s) => [s, 0]));
  states.connected = end - start;
  return {
    kind: REPORT_KIND,
    version: REPORT_VERSION,
    tool: { name: "hubwire fleet", version: "t" },
    host: `host-${index}`,
    startedAt: new Date(t0).toISOString(),
    endedAt: new Date(t0 + 10000).toISOString(),
    durationSec: 10,
    stoppedBy: "duration",
    shard: { index, count },
    workers: 2,
    devices: { source: "registry", total, slice: { start, end }, count: end - start, first: `sim${start + 1}`, last: `sim${end}`, ids: { prefix: "sim", index: 1, pad: 6 } },
    connect: { connected: end - start, failed: 0, allConnectedMs: 1000 + index, latency: { ...conn.summary(), histogram: conn.toJSON() } },
    totals: { sent, acked: sent - errors, errors, sendErrors: errors, operations: sent + (end - start), errorRate: errors / (sent + end - start), counters: { connects: end - start, c2d: 1 }, errorsByCode: errors ? { "send:TIMEOUT": errors } : {}, methods: { reboot: 1 }, samples: {} },
    latency: { ...lat.summary(), histogram: lat.toJSON() },
    rates: { ackedPerSec: 10, sentPerSec: 10, window: "x" },
    process: { cpuShare: 0.25, rssSteadyBytes: 2e8, rssBaselineBytes: 1e8, rssPerDeviceBytes: 1e8 / (end - start) },
    timeline: [0, 1].map((k) => ({ time: new Date(t0 + k * 1000 + 300).toISOString(), t: k, states, sent: sent / 2, acked: (sent - errors) / 2, errors: errors / 2, ackP50Ms: 1, ackP99Ms: 3, rssMiB: 100, cpuCores: 0.25 })),
    maxErrorRate: 0.01,
    passed: true,
    file: `r${index}.json`,
  };
}

test("merge_complete_shards_adds_up_succeeds", () => {
  const rs = [2, 0, 1].map((i) => fakeReport(i, 3, 1000, { latencies: [i + 1, i + 1, 10 * (i + 1)] }));
  const m = mergeReports(rs);
  assert.deepEqual(m.problems, []);
  assert.equal(m.passed, true);
  assert.equal(m.devices.count, 1000);
  assert.deepEqual(m.devices.slice, { start: 0, end: 1000 });
  assert.equal(m.devices.first, "sim1");
  assert.equal(m.devices.last, "sim1000");
  assert.equal(m.totals.sent, 300);
  assert.equal(m.totals.counters.c2d, 3);
  assert.deepEqual(m.totals.methods, { reboot: 3 });
  assert.equal(m.latency.count, 9);
  const all = new Histogram();
  for (const x of [1, 1, 10, 2, 2, 20, 3, 3, 30]) all.record(x);
  assert.equal(m.latency.p50, all.quantile(0.5), "percentiles of all samples, not an average of percentiles");
  assert.equal(m.latency.p99, all.quantile(0.99));
  assert.equal(m.connect.allConnectedMs, 1002);
  assert.equal(m.process.cpuShare, 0.75);
  assert.deepEqual(m.shards.map((s) => s.index), [0, 1, 2]);
  assert.equal(m.timeline.length, 2, "rows of the same second are added up");
  assert.equal(m.timeline[0].states.connected, 1000);
  assert.equal(m.timeline[0].sent, 150);
  assert.match(summaryTable(m), /3 shards merged[\s\S]*PASSED/);
});

test("merge_detects_missing_duplicate_and_overlapping_shards_fails", () => {
  const missing = shardProblems([fakeReport(0, 3, 30), fakeReport(2, 3, 30)]);
  assert.ok(missing.some((p) => /shard 1 of 3 missing/.test(p)), missing.join("; "));
  assert.ok(missing.some((p) => /devices 10…19 are in no report/.test(p)), missing.join("; "));
  const dup = shardProblems([fakeReport(0, 2, 30), fakeReport(0, 2, 30), fakeReport(1, 2, 30)]);
  assert.ok(dup.some((p) => /appears twice/.test(p)) && dup.some((p) => /overlap/.test(p)), dup.join("; "));
  const counts = shardProblems([fakeReport(0, 2, 30), fakeReport(1, 3, 30)]);
  assert.ok(counts.some((p) => /shard counts differ/.test(p)), counts.join("; "));
  const ranges = shardProblems([fakeReport(0, 2, 30), fakeReport(1, 2, 40)]);
  assert.ok(ranges.some((p) => /different device ranges/.test(p)), ranges.join("; "));
  const m = mergeReports([fakeReport(0, 2, 30)]);
  assert.equal(m.passed, false, "an incomplete set does not pass");
  assert.match(summaryTable(m), /FAILED: shard 1 of 2 missing/);
});

test("merge_error_rate_over_limit_fails", () => {
  const m = mergeReports([fakeReport(0, 2, 30, { errors: 0 }), fakeReport(1, 2, 30, { errors: 20, sent: 100 })]);
  assert.equal(m.totals.errors, 20);
  assert.ok(Math.abs(m.totals.errorRate - 20 / 230) < 1e-12);
  assert.equal(m.passed, false);
  assert.equal(mergeReports([fakeReport(0, 2, 30), fakeReport(1, 2, 30, { errors: 20 })], 0.5).passed, true, "--max-error-rate overrides the reports' limit");
});

test("report_csv_has_a_row_per_tick_succeeds", () => {
  const csv = toCsv(fakeReport(0, 1, 5)).trim().split("\n");
  assert.equal(csv[0], "time,t,pending,connecting,connected,reconnecting,rebooting,disconnected,failed,sent,acked,errors,ackP50Ms,ackP99Ms,rssMiB,cpuCores");
  assert.equal(csv.length, 3);
  assert.match(csv[1], /^2024-01-01T00:00:00\.300Z,0,0,0,5,0,0,0,0,50,50,0,1,3,100,0\.25$/);
});

test("report_read_rejects_other_files_fails", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hubwire-rep-"));
  writeFileSync(join(dir, "a.json"), JSON.stringify({ kind: "something" }));
  writeFileSync(join(dir, "b.json"), "not json");
  writeFileSync(join(dir, "c.json"), JSON.stringify({ ...fakeReport(0, 1, 5), version: 99 }));
  writeFileSync(join(dir, "ok.json"), JSON.stringify(fakeReport(0, 1, 5)));
  await assert.rejects(readReport(join(dir, "a.json")), (e) => e.code === "REPORT" && /not a hubwire fleet report/.test(e.message));
  await assert.rejects(readReport(join(dir, "b.json")), (e) => e.code === "REPORT");
  await assert.rejects(readReport(join(dir, "c.json")), (e) => e.code === "REPORT" && /version 99/.test(e.message));
  await assert.rejects(readReport(join(dir, "missing.json")), (e) => e.code === "REPORT");
  assert.equal((await readReport(join(dir, "ok.json"))).devices.count, 5);
});
