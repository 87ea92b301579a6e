// bench/fleet.mjs — the fleet section of the benchmarks (bench/run.mjs calls it):
// N devices (10,000; the smoke run 50) in ONE Node process running `hubwire fleet`,
// each a DeviceClient with its own MQTT-over-WebSocket connection sending 1 msg/s,
// against its own emulator process. It reports the time to connect all, acked msg/s,
// errors, the fleet process's CPU share and RSS per device (from the fleet's own
// report), and the emulator's memory per connection (its VmRSS before and while
// the devices are connected, from /proc).
//
//   node bench/fleet.mjs --emulator target/release/hubwire-emulator --client pkg-npm/hubwire [--smoke] [--devices N] [--seconds S] [--json out.json]

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { launchEmulator } from "../tests/support/emulator.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const log = (...a) => console.error("[bench fleet]", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process in bytes (Linux /proc). */
function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : null;
}

/** user + system CPU seconds of a process (Linux /proc). */
function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/**
 * Runs the fleet bench; resolves its figures (plain data for latest.json).
 * @param {{ emulator: string, client: string, smoke?: boolean, devices?: number, seconds?: number }} o
 */
export async function runFleetBench(o) {
  const devices = o.devices ?? (o.smoke ? 50 : 10000);
  const seconds = o.seconds ?? (o.smoke ? 5 : 40);
  const loadAtStart = loadavg();
  const emu = await launchEmulator({ bin: resolve(ROOT, o.emulator), args: ["--no-demo-device"] });
  const pid = emu.pid;
  const work = mkdtempSync(join(tmpdir(), "hubwire-bench-fleet-run-"));
  try {
    const rssStart = rssOf(pid);
    // Register the devices first (the fleet's own bulk registry code), so the emulator's
    // memory is measured with its registry full and only the connections added on top.
    const { resolveIdentities } = await import(pathToFileURL(join(ROOT, "packaging", "fleet", "identities.js")).href);
    const common = { prefix: "bench-", count: devices, index: 1, pad: 5, existing: "reuse", registryConcurrency: 4, serviceUrl: emu.info.httpUrl, shard: { index: 0, count: 1 } };
    const t0 = performance.now();
    await resolveIdentities({ ...common, serviceConnectionString: emu.info.serviceConnectionString });
    const registerMs = performance.now() - t0;
    await sleep(500);
    const rssRegistered = rssOf(pid);
    log(`${devices} devices registered in ${(registerMs / 1000).toFixed(1)} s; emulator RSS ${(rssRegistered / 1048576).toFixed(1)} MiB (${(rssStart / 1048576).toFixed(1)} MiB empty)`);

    const report = join(work, "fleet.json");
    const args = [
      join(ROOT, "packaging", "fleet", "cli.js"), "fleet",
      "--service-connection-string", emu.info.serviceConnectionString, "--url", emu.info.wsUrl,
      "--prefix", "bench-", "--pad", "5", "--count", String(devices), "--interval", "1",
      "--duration", String(seconds), "--ramp-per-sec", "0", "--max-pending-connects", "256",
      "--no-twin", "--progress", "line", "--report", report, "--max-error-rate", "1", "--client", resolve(ROOT, o.client),
    ];
    log(`node ${args.slice(0, 2).join(" ")} … --count ${devices} --duration ${seconds} (one process, ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(1)).join(" ")})`);
    const fleet = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: work });
    let out = "";
    fleet.stdout.on("data", (d) => (out += d));
    // When the devices start connecting and when all are up, from the fleet's log lines.
    let goAt = null;
    let allUpAt = null;
    fleet.stderr.on("data", (d) => {
      for (const line of String(d).split("\n")) {
        if (!line.trim()) continue;
        if (goAt === null && /\] connecting at/.test(line)) goAt = performance.now();
        if (allUpAt === null && /\] all [\d,]+ devices connected/.test(line)) allUpAt = performance.now();
        if (o.smoke || !/^\s*\d+s · /.test(line) || /[05]s · /.test(line)) log(line.trim());
      }
    });
    // Sample the emulator while the fleet runs.
    const samples = [];
    const cpu0 = { t: performance.now(), cpu: cpuOf(pid) };
    const exited = new Promise((r) => fleet.once("exit", (code) => r(code)));
    let done = false;
    exited.then(() => (done = true));
    while (!done) {
      await Promise.race([sleep(1000), exited]);
      if (done) break;
      samples.push({ t: performance.now(), rss: rssOf(pid), cpu: cpuOf(pid) });
    }
    const code = await exited;
    if (code !== 0) throw new Error(`hubwire fleet exited ${code}:\n${out}`);
    const r = JSON.parse(readFileSync(report, "utf8"));
    // The emulator's steady state: from 2 s after every device had connected to 1 s before the stop.
    const stopAt = goAt === null ? Infinity : goAt + seconds * 1000 - 1000;
    const steady = samples.filter((s) => allUpAt !== null && s.t >= allUpAt + 2000 && s.t <= stopAt);
    const use = steady.length >= 2 ? steady : samples.slice(Math.floor(samples.length / 2), -1);
    const emuRss = use.length ? Math.max(...use.map((s) => s.rss)) : null;
    const emuCpu = use.length >= 2 ? (use.at(-1).cpu - use[0].cpu) / ((use.at(-1).t - use[0].t) / 1000) : (samples.at(-1).cpu - cpu0.cpu) / ((samples.at(-1).t - cpu0.t) / 1000);
    const connected = r.connect.connected;
    const result = {
      devices,
      seconds,
      workers: r.workers,
      websocket: r.config.websocket,
      registerMs,
      connected,
      allConnectedMs: r.connect.allConnectedMs,
      connectP50Ms: r.connect.latency.p50,
      connectP99Ms: r.connect.latency.p99,
      ackedPerSec: r.rates.ackedPerSec,
      ratesWindowSec: r.rates.windowSec,
      sent: r.totals.sent,
      acked: r.totals.acked,
      errors: r.totals.errors,
      errorsByCode: r.totals.errorsByCode,
      ackP50Ms: r.latency.p50,
      ackP99Ms: r.latency.p99,
      fleetCpuShare: r.process.cpuShare,
      fleetRssBaselineBytes: r.process.rssBaselineBytes,
      fleetRssSteadyBytes: r.process.rssSteadyBytes,
      fleetRssPerDeviceBytes: r.process.rssPerDeviceBytes,
      fleetRssTotalPerDeviceBytes: r.process.rssSteadyBytes / devices,
      // Where the per-device memory goes: the workers' V8 heaps (committed) and their
      // external memory (the hubwire wasm instances' memory, Buffers); the rest is native.
      fleetMemoryPerDevice: (() => {
        const a = r.process.baseline;
        const b = r.process.memoryAtStop;
        if (!a || !b) return null;
        const per = (k) => (b[k] - a[k]) / devices;
        const heap = per("workersHeapTotalBytes") + per("mainHeapTotalBytes");
        const external = per("workersExternalBytes");
        return { heapUsed: per("workersHeapUsedBytes") + per("mainHeapUsedBytes"), heap, external, native: r.process.rssPerDeviceBytes - heap - external };
      })(),
      emulator: {
        fdLimit: emu.info.fdLimit ?? null,
        rssEmptyBytes: rssStart,
        rssRegisteredBytes: rssRegistered,
        rssConnectedBytes: emuRss,
        perConnectionBytes: emuRss && connected ? (emuRss - rssRegistered) / connected : null,
        cpuShare: emuCpu,
      },
      loadAtStart,
      load: loadavg(),
    };
    log(`${connected}/${devices} connected${result.allConnectedMs == null ? " (not all)" : ` in ${(result.allConnectedMs / 1000).toFixed(1)} s`}; ${result.ackedPerSec?.toFixed(0)} acked/s; ${result.errors} errors; fleet CPU ${(result.fleetCpuShare * 100).toFixed(0)} % of a core, ${(result.fleetRssPerDeviceBytes / 1024).toFixed(1)} KiB RSS per device; emulator ${(result.emulator.perConnectionBytes / 1024).toFixed(1)} KiB per connection, CPU ${(emuCpu * 100).toFixed(0)} %`);
    return result;
  } finally {
    await emu.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const kib = (x) => (x == null ? "—" : `${(x / 1024).toFixed(1)} KiB`);
const mib = (x) => (x == null ? "—" : `${(x / 1048576).toFixed(1)} MiB`);
const n0 = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));
const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(0)} %`);

/** The Markdown section of latest.md. */
export function fleetMarkdown(f) {
  const L = [];
  L.push(`## Devices per Node process (\`hubwire fleet\`)`, "");
  L.push(`${n0(f.devices)} DeviceClients in one Node process (${f.workers} worker threads, ${f.websocket === "node" ? "the fleet's node:net WebSocket" : "the global WebSocket"}), each with its own MQTT-over-WebSocket connection to the emulator, sending 1 msg/s for ${f.seconds} s. Targets: CPU < 1 core, RSS ≤ 32 KiB per device.`, "");
  L.push(`| | |`, `|---|---|`);
  L.push(`| registered (bulk registry API, 100 per call) | ${n0(f.devices)} in ${(f.registerMs / 1000).toFixed(1)} s |`);
  L.push(`| time to connect all | ${f.allConnectedMs == null ? `not all: ${n0(f.connected)} of ${n0(f.devices)}` : `${(f.allConnectedMs / 1000).toFixed(1)} s`} (connect p50 ${f.connectP50Ms?.toFixed(0)} ms, p99 ${f.connectP99Ms?.toFixed(0)} ms) |`);
  L.push(`| acked msg/s (all connected) | ${n0(f.ackedPerSec)} over ${f.ratesWindowSec?.toFixed(0)} s (ack p50 ${f.ackP50Ms?.toFixed(2)} ms, p99 ${f.ackP99Ms?.toFixed(1)} ms) |`);
  L.push(`| errors | ${n0(f.errors)} of ${n0(f.sent)} sent${Object.keys(f.errorsByCode || {}).length ? ` (${Object.entries(f.errorsByCode).map(([k, v]) => `${k} ×${v}`).join(", ")})` : ""} |`);
  const us = (share) => (share != null && f.ackedPerSec ? `, ${((share / f.ackedPerSec) * 1e6).toFixed(0)} µs of CPU per acked message` : "");
  L.push(`| fleet process CPU | ${pct(f.fleetCpuShare)} of one core${us(f.fleetCpuShare)} |`);
  L.push(`| fleet process RSS per device | ${kib(f.fleetRssPerDeviceBytes)} over the ${mib(f.fleetRssBaselineBytes)} baseline (workers and wasm loaded); ${kib(f.fleetRssTotalPerDeviceBytes)} counting the whole ${mib(f.fleetRssSteadyBytes)} |`);
  const m = f.fleetMemoryPerDevice;
  if (m) L.push(`| — of which, per device | V8 heaps ${kib(m.heap)} committed (${kib(m.heapUsed)} used), wasm memory and Buffers ${kib(m.external)}, native (sockets, code, allocator) ${kib(m.native)} |`);
  const e = f.emulator;
  L.push(`| emulator memory per connection | ${kib(e.perConnectionBytes)} (RSS ${mib(e.rssRegisteredBytes)} with ${n0(f.devices)} registered → ${mib(e.rssConnectedBytes)} connected and sending) |`);
  L.push(`| emulator CPU | ${pct(e.cpuShare)} of one core${us(e.cpuShare)}; file descriptors: soft limit ${e.fdLimit ? `${n0(e.fdLimit.soft)} (was ${n0(e.fdLimit.before)})` : "—"} |`);
  L.push(`| machine load (1/5/15 min) at the start, at the end | ${(f.loadAtStart || []).map((x) => x.toFixed(1)).join(" / ")}, ${f.load.map((x) => x.toFixed(1)).join(" / ")} on ${cpus().length} cores |`, "");
  return L.join("\n");
}

/** The figures the smoke run must have produced. */
export function fleetFigures(f) {
  return [
    ["fleet process devices connected", f.connected],
    ["fleet process acked/s", f.ackedPerSec],
    ["fleet process RSS per device", f.fleetRssPerDeviceBytes],
    ["fleet process CPU share", f.fleetCpuShare],
    ["emulator bytes per connection", f.emulator.perConnectionBytes],
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name, d) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : d);
  runFleetBench({
    emulator: opt("--emulator", "target/release/hubwire-emulator"),
    client: opt("--client", "pkg"),
    smoke: argv.includes("--smoke"),
    devices: opt("--devices") && Number(opt("--devices")),
    seconds: opt("--seconds") && Number(opt("--seconds")),
  }).then(
    (f) => {
      if (opt("--json")) writeFileSync(resolve(opt("--json")), `${JSON.stringify(f, null, 2)}\n`);
      console.log(fleetMarkdown(f));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
