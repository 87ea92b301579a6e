#!/usr/bin/env node
// bench/run.mjs — hubwire's benchmarks, in one run (scripts/bench.sh builds and calls this).
//
//   node bench/run.mjs --emulator target/release/hubwire-emulator --wasm-dir pkg-npm/hubwire/wasm \
//        [--npm-dir pkg-npm/hubwire] [--smoke] [--out bench/results]
//
// Starts the emulator on loopback, serves bench/web/ (+ the hubwire glue and .wasm,
// + MQTT.js's browser bundle from node_modules/mqtt/dist) from a local HTTP server,
// and drives headless Chromium (playwright-core, /usr/bin/chromium) through it:
//   1. throughput: QoS 1 msgs/s, hubwire vs MQTT.js vs a raw WebSocket ceiling
//   2. latency: publish -> PUBACK round trip p50/p99, one message at a time
//   3. connect latency: a fresh client (glue, wasm instance, SAS, CONNACK), p50/p99 (bench/connect.mjs)
//   4. QoS 0 burst: msg/s to a trailing QoS 1's PUBACK (bench/burst.mjs)
//   5. bundle size: gzip -9 / brotli 11 of what a page loads for each, hubwire by part and
//      its .wasm by module (bench/bundle.mjs)
//   6. devices per tab: DeviceClients connected and sending 1 msg/s, wasm memory per client
//   7. devices per Node process: 10,000 DeviceClients in one `hubwire fleet` process (bench/fleet.mjs)
// --profile: also records a Chromium CPU profile of hubwire's QoS 1 run at window 64
// (bench/profile.mjs) and prints where the time goes.
// It writes <out>/latest.json and <out>/latest.md and prints the table. The machine is
// noisy: figures are compared as ratios within this one run, and nothing asserts a speed.
// --smoke: tiny counts, results to artifacts/bench/, and exit 1 unless every
// measurement produced a finite positive number.

import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync } from "node:fs";
import { join, dirname, resolve, extname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";
import { createRequire } from "node:module";
import { launchEmulator } from "../tests/support/emulator.mjs";
import { bundleMarkdown, bundleSizes } from "./bundle.mjs";
import { burstFigures, burstMarkdown, runBurst } from "./burst.mjs";
import { connectFigures, connectMarkdown, runConnectLatency } from "./connect.mjs";
import { prepareProfileWasm, profileMarkdown, profileWrite } from "./profile.mjs";
import { fleetFigures, fleetMarkdown, runFleetBench } from "./fleet.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(ROOT, "package.json"));
const { chromium } = require("playwright-core");

// ------------------------------------------------------------ options

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const SMOKE = argv.includes("--smoke");
const EMULATOR = resolve(ROOT, opt("--emulator", "target/release/hubwire-emulator"));
const WASM_DIR = resolve(ROOT, opt("--wasm-dir", "pkg-npm/hubwire/wasm"));
const NPM_DIR = opt("--npm-dir", null) && resolve(ROOT, opt("--npm-dir"));
const OUT = resolve(ROOT, opt("--out", SMOKE ? "artifacts/bench" : "bench/results"));
const CHROMIUM = process.env.HUBWIRE_CHROMIUM || "/usr/bin/chromium";
const MQTT_DIST = join(ROOT, "node_modules/mqtt/dist");

const P = SMOKE
  ? { size: 256, count: 300, windows: [64], rounds: 1, latSamples: 50, latWarmup: 10, latBlocks: 1, fleet: 5, probe: false, fleetSeconds: 3,
    connSamples: 5, connWarmup: 1, connBlocks: 1, burstCount: 300, burstChunk: 100, burstRounds: 1 }
  : { size: 256, count: 20000, windows: [64, 1000], rounds: 5, latSamples: 500, latWarmup: 100, latBlocks: 4, fleet: 255, probe: true, fleetSeconds: 15,
    connSamples: 25, connWarmup: 3, connBlocks: 4, burstCount: 20000, burstChunk: 1000, burstRounds: 5 };
const PROFILE = argv.includes("--profile");
// The names-kept .wasm and the .cpuprofile of --profile (not committed: generated).
const PROFILE_DIR = join(ROOT, "artifacts", "bench", "profile");
const LIBS = ["hubwire", "hubwire-batchws", "mqttjs", "raw", "raw-batched"];

const log = (...a) => console.error("[bench]", ...a);

// ------------------------------------------------------------ emulator (tests/support/emulator.mjs)

const sas = (cs) => execFileSync(EMULATOR, ["sas", "--connection-string", cs, "--ttl", "7200"], { encoding: "utf8" }).trim();

async function registerDevice(info, token, deviceId) {
  const r = await fetch(`${info.httpUrl}/devices/${encodeURIComponent(deviceId)}`, {
    method: "PUT",
    headers: { authorization: token, "content-type": "application/json" },
    body: JSON.stringify({ deviceId }),
  });
  if (!r.ok) throw new Error(`PUT /devices/${deviceId}: HTTP ${r.status} ${await r.text()}`);
  const d = await r.json();
  return `HostName=${info.hostName};DeviceId=${deviceId};SharedAccessKey=${d.authentication.symmetricKey.primaryKey}`;
}

async function deviceCfg(info, token, deviceId) {
  const connectionString = await registerDevice(info, token, deviceId);
  return {
    deviceId, connectionString, wsUrl: info.wsUrl,
    username: `${info.hostName}/${deviceId}/?api-version=2021-04-12`,
    password: sas(connectionString), // the emulator's `sas` subcommand signs device connection strings
  };
}

// ------------------------------------------------------------ static server

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

function serve() {
  const routes = [
    ["/hubwire/", WASM_DIR],
    ["/vendor/", MQTT_DIST],
    ["/profile/", PROFILE_DIR],
    ["/", join(ROOT, "bench/web")],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const [prefix, dir] = routes.find(([p]) => path.startsWith(p));
    let file = resolve(dir, "." + path.slice(prefix.length - 1));
    if (path === "/") file = join(dir, "index.html");
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    // Cross-origin isolation: performance.now() at 5 µs instead of 100 µs resolution.
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] || "application/octet-stream",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

// ------------------------------------------------------------ browser runs

const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

async function openPage(browser, url) {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") log("page console error:", m.text()); });
  page.on("pageerror", (e) => log("page error:", e.message));
  await page.goto(url);
  const about = await page.evaluate(() => window.benchReady);
  return { page, about };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function runThroughput(page, cfgs) {
  const out = [];
  for (const window of P.windows) {
    const runs = Object.fromEntries(LIBS.map((l) => [l, []]));
    const perWs = Object.fromEntries(LIBS.map((l) => [l, []]));
    for (let round = 0; round < P.rounds; round++) {
      // Rotate the order each round so no library always runs first (or right after another).
      const order = LIBS.map((_, i) => LIBS[(i + round) % LIBS.length]);
      for (const lib of order) {
        const cfg = cfgs[lib.replace(/-.*/, "")];
        const r = await page.evaluate((a) => window.bench.throughput(a), { lib, cfg, count: P.count, size: P.size, window });
        log(`throughput window ${window} round ${round + 1} ${lib}: ${r.msgsPerSec.toFixed(0)} msg/s (${r.ms.toFixed(0)} ms)`);
        runs[lib].push(r.msgsPerSec);
        perWs[lib].push(r.count / r.wsMessages);
      }
    }
    const ceiling = Math.max(median(runs.raw), median(runs["raw-batched"]));
    out.push({
      window, count: P.count, size: P.size, rounds: P.rounds,
      libs: Object.fromEntries(LIBS.map((l) => [l, {
        msgsPerSec: median(runs[l]), runs: runs[l], ratioToCeiling: median(runs[l]) / ceiling,
        ratioToRawPerFrame: median(runs[l]) / median(runs.raw), packetsPerWsMessage: median(perWs[l]),
      }])),
      ceilingMsgsPerSec: ceiling,
    });
  }
  return out;
}

// latBlocks blocks of latSamples round trips per client, the clients' order rotated per block;
// percentiles over all of a client's samples.
async function runLatency(page, cfgs) {
  const libs = ["hubwire", "hubwire-batchws", "mqttjs", "raw"];
  const all = Object.fromEntries(libs.map((l) => [l, []]));
  for (let block = 0; block < P.latBlocks; block++) {
    for (const lib of libs.map((_, i) => libs[(i + block) % libs.length])) {
      const r = await page.evaluate((a) => window.bench.latency(a),
        { lib, cfg: cfgs[lib.replace(/-.*/, "")], samples: P.latSamples, warmup: P.latWarmup, size: P.size });
      all[lib].push(...r.rttMs);
    }
  }
  const out = {};
  for (const lib of libs) {
    const rtt = all[lib].sort((a, b) => a - b);
    const n = rtt.length;
    const q = (p) => rtt[Math.min(n - 1, Math.floor(p * n))];
    out[lib] = { samples: n, size: P.size, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: rtt[n - 1], mean: rtt.reduce((a, b) => a + b, 0) / n };
    log(`latency ${lib}: p50 ${out[lib].p50.toFixed(3)} ms, p99 ${out[lib].p99.toFixed(3)} ms`);
  }
  return out;
}

async function runFleet(browser, url, info, token) {
  const n = P.fleet + (P.probe ? 1 : 0);
  log(`registering ${n} fleet devices`);
  const connectionStrings = [];
  for (let i = 1; i <= n; i++) connectionStrings.push(await registerDevice(info, token, `bench-fleet-${String(i).padStart(3, "0")}`));
  // A fresh page: its wasm memory starts at the initial size, not at the throughput runs' high-water mark.
  const { page, about } = await openPage(browser, url);
  const cdp = await page.context().newCDPSession(page);
  const jsHeap = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    return (await cdp.send("Runtime.getHeapUsage")).usedSize;
  };
  const heap0 = await jsHeap();
  const mem0 = about.wasmMemoryBytes;
  const created = await page.evaluate((a) => window.bench.fleetCreate(a), { wsUrl: info.wsUrl, connectionStrings: connectionStrings.slice(0, P.fleet) });
  const conn = await page.evaluate(() => window.bench.fleetConnect({ concurrency: 3, timeoutMs: 10000 }));
  log(`fleet: ${conn.connected}/${conn.attempted} connected in ${conn.ms.toFixed(0)} ms`, conn.failures);
  const heapConnected = await jsHeap();
  const send = await page.evaluate((a) => window.bench.fleetSend(a), { seconds: P.fleetSeconds, intervalMs: 1000 });
  log(`fleet: ${send.sending} sending, ${send.acked} acked in ${send.seconds} s (${send.ackedPerSec.toFixed(1)}/s), ${send.errors} errors`);
  const heapSent = await jsHeap();
  let probe = null;
  let refused = 0;
  page.on("console", (m) => { if (/Insufficient resources/.test(m.text())) refused++; });
  if (P.probe) {
    // One more client than the page has WebSockets for (Chromium: 255 per page).
    await page.evaluate((a) => window.bench.fleetCreate(a), { wsUrl: info.wsUrl, connectionStrings: connectionStrings.slice(P.fleet) });
    probe = await page.evaluate((from) => window.bench.fleetConnect({ concurrency: 1, timeoutMs: 5000, from }), P.fleet);
    log(`fleet: client ${P.fleet + 1}:`, probe.connected ? "connected" : JSON.stringify(probe.failures));
  }
  const closed = await page.evaluate(() => window.bench.fleetClose());
  await page.close();
  const clients = conn.connected;
  return {
    attempted: conn.attempted, connected: conn.connected, connectMs: conn.ms, connectFailures: conn.failures,
    concurrency: 3,
    sending: send.sending, seconds: send.seconds, sent: send.sent, acked: send.acked, errors: send.errors,
    errorCodes: send.errorCodes, ackedPerSec: send.ackedPerSec, stillConnected: send.stillConnected,
    probe: probe && { connected: probe.connected === 1, failures: probe.failures, disconnects: probe.disconnects, insufficientResourcesErrors: refused },
    wasmMemory: {
      initial: mem0, afterCreate: created.wasmMemoryBytes, afterConnect: conn.wasmMemoryBytes,
      afterSending: send.wasmMemoryBytes, afterClose: closed.wasmMemoryBytes,
      perClient: clients ? (send.wasmMemoryBytes - mem0) / clients : null,
    },
    jsHeap: { initial: heap0, connected: heapConnected, afterSending: heapSent, perClient: clients ? (heapSent - heap0) / clients : null },
  };
}

// ------------------------------------------------------------ report

const f0 = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));
const f2 = (x) => (x == null ? "—" : x.toFixed(2));
const f3 = (x) => (x == null ? "—" : x.toFixed(3));
const kib = (x) => (x == null ? "—" : `${(x / 1024).toFixed(1)} KiB`);
const NAMES = { hubwire: "hubwire", "hubwire-batchws": "hubwire + batching webSocketFactory", mqttjs: "MQTT.js", raw: "raw WebSocket, 1 frame/message", "raw-batched": "raw WebSocket, frames batched" };

function markdown(r) {
  const L = [];
  L.push(`# hubwire benchmark results`, "");
  L.push(`${r.date} · commit ${r.commit} · ${r.machine.cpus}× ${r.machine.cpuModel} · ${r.browser} · emulator ${r.emulator} · ${r.smoke ? "**smoke run (tiny counts, figures meaningless)**" : "full run"}`, "");
  L.push(`All figures from one run on a shared, noisy machine; compare the ratios, not the absolute numbers.`, "");
  for (const t of r.throughput) {
    L.push(`## Throughput, QoS 1, ${t.size} B, ${t.count.toLocaleString("en-US")} messages, window ${t.window} (median of ${t.rounds})`, "");
    L.push(`| client | msg/s | × ceiling | × raw 1 frame/msg | PUBLISHes per WebSocket message | runs (msg/s) |`, `|---|---:|---:|---:|---:|---|`);
    for (const [lib, v] of Object.entries(t.libs)) {
      L.push(`| ${NAMES[lib]} | ${f0(v.msgsPerSec)} | ${f2(v.ratioToCeiling)} | ${f2(v.ratioToRawPerFrame)} | ${f2(v.packetsPerWsMessage)} | ${v.runs.map(f0).join(", ")} |`);
    }
    L.push("");
  }
  L.push(`## Latency, QoS 1 publish → PUBACK, one at a time, ${r.latency.hubwire.samples} samples each in ${r.params.latBlocks} interleaved blocks (ms)`, "");
  L.push(`| client | p50 | p90 | p99 | max | mean |`, `|---|---:|---:|---:|---:|---:|`);
  for (const [lib, v] of Object.entries(r.latency)) L.push(`| ${NAMES[lib]} | ${f3(v.p50)} | ${f3(v.p90)} | ${f3(v.p99)} | ${f3(v.max)} | ${f3(v.mean)} |`);
  L.push("", connectMarkdown(r.connect), burstMarkdown(r.burst), bundleMarkdown(r.bundle), profileMarkdown(r.profile));
  const fl = r.fleet;
  L.push(`## Devices per tab`, "");
  L.push(`| | |`, `|---|---|`);
  L.push(`| DeviceClients connected (3 at a time) | ${fl.connected} of ${fl.attempted} in ${f0(fl.connectMs)} ms |`);
  L.push(`| sending 1 msg/s each for ${fl.seconds} s | ${fl.sending} clients, ${f0(fl.acked)} acked (${f2(fl.ackedPerSec)}/s), ${fl.errors} errors, ${fl.stillConnected} still connected |`);
  if (fl.probe) {
    const pr = fl.probe;
    const why = `not connected in 5 s: disconnected ${Object.entries(pr.disconnects).map(([k, v]) => `${k} ×${v}`).join(", ") || "never"}, Chromium logged "Insufficient resources" ×${pr.insufficientResourcesErrors}`;
    L.push(`| client ${fl.attempted + 1} (one more WebSocket) | ${pr.connected ? "connected" : why} |`);
  }
  const m = fl.wasmMemory;
  L.push(`| wasm memory: initial → connected → after sending | ${kib(m.initial)} → ${kib(m.afterConnect)} → ${kib(m.afterSending)} |`);
  L.push(`| wasm memory growth per client | ${kib(m.perClient)} |`);
  L.push(`| JS heap growth per client (after GC) | ${kib(fl.jsHeap.perClient)} |`);
  L.push("");
  if (r.fleetProcess) L.push(fleetMarkdown(r.fleetProcess));
  return L.join("\n");
}

// Every figure the run must have produced (the smoke checks these, and only these).
function figures(r) {
  const out = [];
  for (const t of r.throughput) for (const [lib, v] of Object.entries(t.libs)) out.push([`throughput w${t.window} ${lib}`, v.msgsPerSec]);
  for (const [lib, v] of Object.entries(r.latency)) out.push([`latency ${lib} p50`, v.p50], [`latency ${lib} p99`, v.p99]);
  out.push(...connectFigures(r.connect), ...burstFigures(r.burst));
  for (const k of ["hubwire", "mqttjsMin", "mqttjsEsm"]) out.push([`bundle ${k} gzip`, r.bundle[k].gzip], [`bundle ${k} brotli`, r.bundle[k].brotli]);
  for (const p of r.bundle.hubwire.parts) if (p.files.length) out.push([`bundle hubwire ${p.part} gzip`, p.gzip]);
  out.push(["bundle wasm by module", r.bundle.wasmModules ? r.bundle.wasmModules.namedTotal : null]);
  out.push(["fleet connected", r.fleet.connected], ["fleet acked/s", r.fleet.ackedPerSec], ["fleet wasm bytes/client", r.fleet.wasmMemory.perClient]);
  out.push(...fleetFigures(r.fleetProcess));
  return out;
}

// ------------------------------------------------------------ main

async function main() {
  log(`${SMOKE ? "smoke" : "full"} run: emulator ${relative(ROOT, EMULATOR)}, wasm ${relative(ROOT, WASM_DIR)}`);
  const started = Date.now();
  if (PROFILE) prepareProfileWasm(PROFILE_DIR);
  // The connect-latency section connects one device hundreds of times in a row: the
  // emulator's per-device connect throttle (IoT Hub's, default 2/s after a burst of 20)
  // would refuse them with CONNACK 3. The bench measures the clients, so it is off.
  const emu = await launchEmulator({ bin: EMULATOR, args: ["--connect-throttle", "0"] });
  const server = await serve();
  const url = `http://127.0.0.1:${server.address().port}/`;
  let browser = null;
  try {
    const token = sas(emu.info.serviceConnectionString);
    const cfgs = {
      hubwire: await deviceCfg(emu.info, token, "bench-hubwire"),
      mqttjs: await deviceCfg(emu.info, token, "bench-mqttjs"),
      raw: await deviceCfg(emu.info, token, "bench-raw"),
    };
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const browserVersion = `Chromium ${browser.version()}`;
    const { page, about } = await openPage(browser, url);
    log(`page: ${about.userAgent}, crossOriginIsolated ${about.crossOriginIsolated}, MQTT.js loaded ${about.mqttjs}`);
    const throughput = await runThroughput(page, cfgs);
    const latency = await runLatency(page, cfgs);
    const connect = await runConnectLatency(page, cfgs, { samples: P.connSamples, warmup: P.connWarmup, blocks: P.connBlocks, log });
    const burst = await runBurst(page, cfgs, { count: P.burstCount, size: P.size, chunk: P.burstChunk, rounds: P.burstRounds, log });
    await page.close();
    const profile = PROFILE ? await profileWrite({ browser, url, cfg: cfgs.hubwire, count: P.count, size: P.size, window: 64, out: PROFILE_DIR, log }) : null;
    const fleet = await runFleet(browser, url, emu.info, token);
    await browser.close();
    browser = null;
    // Devices per Node process: its own emulator, so the browser runs' state does not count.
    const fleetProcess = await runFleetBench({ emulator: EMULATOR, client: NPM_DIR || WASM_DIR, smoke: SMOKE });
    let commit = "unknown";
    try { commit = execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(); } catch { /* not a checkout */ }
    const result = {
      date: new Date().toISOString(), commit, smoke: SMOKE,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "?" },
      browser: browserVersion, crossOriginIsolated: about.crossOriginIsolated,
      emulator: relative(ROOT, EMULATOR), wasmDir: relative(ROOT, WASM_DIR), params: P,
      throughput, latency, connect, burst, profile,
      bundle: bundleSizes({ root: ROOT, wasmDir: WASM_DIR, npmDir: NPM_DIR, mqttDist: MQTT_DIST, log }),
      fleet, fleetProcess, seconds: (Date.now() - started) / 1000,
    };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, "latest.json"), JSON.stringify(result, null, 2) + "\n");
    const md = markdown(result);
    writeFileSync(join(OUT, "latest.md"), md);
    console.log(md);
    log(`wrote ${relative(ROOT, join(OUT, "latest.json"))} and latest.md in ${result.seconds.toFixed(0)} s`);
    const figs = figures(result);
    const bad = figs.filter(([, v]) => !(typeof v === "number" && Number.isFinite(v) && v > 0));
    for (const [k, v] of bad) console.log(`no figure: ${k} = ${v}`);
    if (SMOKE) console.log(`smoke: ${figs.length - bad.length} passed, ${bad.length} failed`);
    return bad.length && SMOKE ? 1 : 0;
  } finally {
    if (browser) await browser.close();
    server.close();
    await emu.stop();
  }
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
