#!/usr/bin/env node
// scripts/soak.mjs — the soak: one hubwire client sends QoS 1 telemetry with unique
// messageIds through random faults of every kind the emulator has, including
// `kill -9` of the emulator and a restart on the same port with its --state-file,
// while the service side sends C2D messages and patches desired properties.
// At the end every messageId must be stored (duplicates counted), every C2D
// message delivered, the device's desired view equal to the twin, the client
// connected, every send settled, and no key or token in any log. Prints
// sent / stored / duplicated / lost / reconnects / time. docs/reliability.md.
//
//   node scripts/soak.mjs                          short run, Node (the test command's variant)
//   node scripts/soak.mjs --runtime chromium       the device in headless Chromium
//   node scripts/soak.mjs --messages 100000 --faults 520 --restarts 30 --emulator target/release/hubwire-emulator
//   options: --seed N  --pkg DIR  --rate MSGS_PER_S  --json FILE  --keep (keep the scratch dir)
//
// Needs Node 22 (global WebSocket): node_modules/.bin/node after `npm ci`.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import util from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ServiceClient } from "../www/js/service.js";
import { EmulatorProcess } from "../tests/support/emulator.mjs";
import { findSecrets, tokenSecrets, withoutCredentialBanner } from "./soak/secrets.mjs";
import { SoakDevice } from "./soak/web/device.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a seeded random source, so a run can be repeated. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: (xs) => xs[int(0, xs.length - 1)] };
}

/** Immediate hostile variants the soak mixes in (each ends the connection). */
const MALFORMED = ["badRemainingLength", "oversized", "length300MB", "connect", "reserved0", "reserved15", "unknownPuback", "unknownSuback", "invalidUtf8Topic", "qos3", "closeMidPacket", "textFrame"];

/** Every fault kind: what it sends to the emulator. `then` faults follow after a pause. */
export const FAULT_KINDS = {
  drop: () => [{ kind: "drop" }],
  closeWithoutDisconnect: () => [{ kind: "closeWithoutDisconnect" }],
  // Withheld PUBACKs stay unanswered until the connection is lost and the client resends.
  withholdPuback: (r) => [{ kind: "withholdPuback", count: r.int(1, 5) }, { pause: r.int(300, 1500) }, { kind: "drop" }],
  delayPuback: (r) => [{ kind: "delayPuback", ms: r.int(200, 2000), count: r.int(5, 50) }],
  expireToken: () => [{ kind: "expireToken" }],
  twinThrottle: (r) => [{ kind: "twinThrottle", count: r.int(1, 3) }],
  serverUnavailable: (r) => [{ kind: "serverUnavailable", count: r.int(1, 3) }, { kind: "drop" }],
  connackUnknownCode: (r) => [{ kind: "malformed", variant: "connackUnknownCode", code: r.int(6, 255), count: r.int(1, 2) }, { kind: "drop" }],
  malformed: (r) => [{ kind: "malformed", variant: r.pick(MALFORMED) }],
  restart: (r) => [{ restart: r.int(1000, 4000) }],
};

function parseArgs(argv) {
  const o = { runtime: "node", messages: 2000, faults: 24, restarts: 2, seed: Date.now() % 100000, rate: 0, json: null, keep: false };
  o.emulator = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "debug", "hubwire-emulator");
  o.pkg = path.join(ROOT, "pkg");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === "--runtime") o.runtime = v();
    else if (a === "--messages") o.messages = Number(v());
    else if (a === "--faults") o.faults = Number(v());
    else if (a === "--restarts") o.restarts = Number(v());
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--rate") o.rate = Number(v());
    else if (a === "--emulator") o.emulator = path.resolve(v());
    else if (a === "--pkg") o.pkg = path.resolve(v());
    else if (a === "--json") o.json = path.resolve(v());
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a} (see the header of scripts/soak.mjs)`);
  }
  if (!["node", "chromium"].includes(o.runtime)) throw new Error("--runtime is node or chromium");
  return o;
}

/** The fault plan: every kind once (shuffled), `restarts` restarts, the rest at random. */
function plan(r, faults, restarts) {
  const kinds = Object.keys(FAULT_KINDS).filter((k) => k !== "restart");
  const list = [...kinds];
  for (let i = 0; i < restarts; i++) list.push("restart");
  while (list.length < faults) list.push(r.next() < 0.04 ? "restart" : r.pick(kinds));
  for (let i = list.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** The device, in this Node process or in a Chromium page: same interface, async. */
async function deviceIn(runtime, emu, opts, pkgDir, logLines) {
  if (runtime === "node") {
    if (typeof WebSocket !== "function") throw new Error(`Node ${process.version} has no global WebSocket: run with Node 22 (node_modules/.bin/node)`);
    const hubwire = await import(pathToFileURL(path.join(pkgDir, "hubwire.js")).href);
    const wasm = hubwire.initSync({ module: fs.readFileSync(path.join(pkgDir, "hubwire_bg.wasm")) });
    const d = new SoakDevice(hubwire, opts);
    return {
      start: () => d.start(),
      stats: async () => d.stats(),
      quiet: async () => d.quiet(),
      texts: async () => [...d.texts(), util.inspect(d.client, { showHidden: true, depth: 4 })],
      tokens: async () => d.tokensSeen(),
      memory: async () => wasm.memory.buffer.byteLength,
      close: async () => d.close(),
    };
  }
  const { launchChromium } = await import("../tests/support/chromium.mjs");
  const browser = await launchChromium();
  const page = await browser.newPage();
  page.on("console", (m) => logLines.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logLines.push(`pageerror: ${e.message}`));
  await page.goto(`${emu.info.httpUrl}/index.html`);
  await page.waitForFunction(() => window.soak && window.soak.ready, null, { timeout: 30000 });
  await page.evaluate((o) => window.soak.create(o), opts);
  const call = (name) => page.evaluate((n) => window.soak.call(n), name);
  return {
    start: () => call("start"),
    stats: () => call("stats"),
    quiet: () => call("quiet"),
    texts: () => call("texts"),
    tokens: () => call("tokensSeen"),
    memory: () => page.evaluate(() => window.soak.memory()),
    close: async () => {
      await call("close").catch(() => {});
      await browser.close();
    },
  };
}

/** Applies one fault; immediate ones wait (up to 15 s) for the device to be online. */
async function applyFault(kind, r, svc, deviceId, emu, say) {
  for (const step of FAULT_KINDS[kind](r)) {
    if (step.pause) {
      await sleep(step.pause);
      continue;
    }
    if (step.restart) {
      await emu.kill9();
      say(`fault restart: kill -9, hub down ${step.restart} ms`);
      await sleep(step.restart);
      await emu.start();
      continue;
    }
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        await svc.request("POST", `/emulator/faults/${encodeURIComponent(deviceId)}`, { json: step });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`fault ${JSON.stringify(step)} not applied in 15 s: ${e.message}`);
        await sleep(100);
      }
    }
  }
}

/** Service-side work while faults run: C2D sends and desired patches (set-only keys). */
function serviceLoop(svc, deviceId, r, state) {
  let stop = false;
  const run = async () => {
    let n = 0;
    while (!stop) {
      await sleep(r.int(300, 900));
      n++;
      try {
        if (n % 2 === 0) {
          const id = `c-${state.c2dTried++}`;
          await svc.sendC2d(deviceId, `c2d ${id}`, { messageId: id });
          state.c2dSent.push(id);
        } else {
          const key = `k${r.int(0, 9)}`;
          await svc.patchDesired(deviceId, { [key]: r.int(0, 1e6), seq: n });
          state.patches++;
        }
      } catch (e) {
        state.serviceFailures++; // hub down, or 403 queue full: not counted as sent
      }
    }
  };
  const done = run();
  return async () => {
    stop = true;
    await done;
  };
}

async function telemetryIds(svc, deviceId) {
  const counts = new Map();
  let after = 0;
  let records = 0;
  for (;;) {
    const page = await svc.telemetry({ after, deviceId, limit: 10000 });
    if (!page.items.length) break;
    for (const it of page.items) {
      records++;
      const id = it.systemProperties && it.systemProperties.messageId;
      counts.set(id, (counts.get(id) || 0) + 1);
    }
    after = page.next;
  }
  return { counts, records };
}

async function until(what, ms, fn) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last === true) return true;
    await sleep(200);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (${JSON.stringify(last)})`);
}

const sameJson = (a, b) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v) {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
}

/** Runs one soak; resolves to the result (never throws for a failed check: `ok` is false). */
export async function runSoak(opts) {
  const o = { ...parseArgs([]), ...opts };
  const t0 = Date.now();
  const r = rng(o.seed);
  const out = [];
  const say = (line) => {
    const l = `[soak ${o.runtime} ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`;
    out.push(l);
    if (!o.quietLog) console.log(l);
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubwire-soak-"));
  const emu = new EmulatorProcess({
    bin: o.emulator,
    dir,
    args: ["--static", path.join(ROOT, "scripts", "soak", "web"), "--pkg", o.pkg, "--max-telemetry", String(o.messages * 3 + 10000)],
  });
  const result = { runtime: o.runtime, seed: o.seed, messages: o.messages, checks: {}, ok: false };
  let device = null;
  let stopService = null;
  const logLines = [];
  try {
    await emu.start();
    const svc = new ServiceClient(emu.info.serviceConnectionString, emu.info.httpUrl);
    const deviceId = `soak-${o.runtime}-${o.seed}`;
    const ident = await svc.ensureDevice(deviceId);
    const keys = ident.authentication.symmetricKey;
    const cs = `HostName=${emu.info.hostName};DeviceId=${deviceId};SharedAccessKey=${keys.primaryKey}`;
    const faults = plan(r, o.faults, o.restarts);
    // Spread the messages over the faults: about 1.6 s per fault on this machine.
    const rate = o.rate || Math.max(20, Math.ceil(o.messages / (faults.length * 1.6)));
    say(`seed ${o.seed}: ${o.messages} messages at ${rate}/s through ${faults.length} faults (${faults.filter((f) => f === "restart").length} restarts); device ${deviceId}; scratch ${dir}`);
    device = await deviceIn(o.runtime, emu, { connectionString: cs, url: emu.info.wsUrl, total: o.messages, rate, retry: { minDelayMs: 100, maxDelayMs: 3000 } }, o.pkg, logLines);
    await device.start();
    const state = { c2dTried: 0, c2dSent: [], patches: 0, serviceFailures: 0 };
    stopService = serviceLoop(svc, deviceId, r, state);
    const applied = {};
    const gap = Math.max(200, Math.floor((o.messages / rate) * 1000 / (faults.length + 1)));
    for (const [i, kind] of faults.entries()) {
      await sleep(r.int(gap / 2, gap * 1.5));
      await applyFault(kind, r, svc, deviceId, emu, say);
      applied[kind] = (applied[kind] || 0) + 1;
      if ((i + 1) % Math.max(1, Math.floor(faults.length / 10)) === 0) {
        const s = await device.stats();
        say(`${i + 1}/${faults.length} faults; acked ${s.acked}/${s.total}, pending ${s.pending}, reconnects ${s.reconnects}, state ${s.state}`);
      }
    }
    result.faults = applied;
    // Let the sender finish, then stop the service side (its last patch is the final state).
    await until("every message sent and settled", 600000, async () => {
      const s = await device.stats();
      return (s.unsent === 0 && s.pending === 0) || { acked: s.acked, pending: s.pending, unsent: s.unsent, state: s.state };
    });
    await stopService();
    stopService = null;
    await device.quiet();
    say(`service side: ${state.c2dSent.length} C2D accepted of ${state.c2dTried}, ${state.patches} desired patches, ${state.serviceFailures} calls failed (hub down or queue full)`);
    await until("the client connected", 60000, async () => (await device.stats()).state === "connected");
    await until("every C2D message delivered", 60000, async () => {
      const got = (await device.stats()).c2d;
      const missing = state.c2dSent.filter((id) => !got[id]);
      return missing.length === 0 || { missing: missing.slice(0, 5), count: missing.length };
    });
    let twin;
    await until("the device's desired view to reach the twin's version", 60000, async () => {
      twin = await svc.getTwin(deviceId);
      const d = (await device.stats()).desired;
      return (d && d.$version === twin.properties.desired.$version) || { device: d && d.$version, twin: twin.properties.desired.$version };
    });
    const s = await device.stats();
    const { counts, records } = await telemetryIds(svc, deviceId);
    const lost = [];
    for (let i = 0; i < o.messages; i++) if (!counts.has(`m-${i}`)) lost.push(`m-${i}`);
    const stored = [...counts.keys()].filter((k) => /^m-\d+$/.test(k)).length;
    result.sent = s.acked;
    result.stored = stored;
    result.records = records;
    result.duplicated = records - counts.size;
    result.lost = lost.length;
    result.reconnects = s.reconnects;
    result.device = { ...s, c2d: undefined, c2dDelivered: Object.keys(s.c2d).length, c2dDuplicates: Object.values(s.c2d).reduce((a, n) => a + n - 1, 0) };
    result.c2dSent = state.c2dSent.length;
    result.patches = state.patches;
    result.restarts = emu.starts - 1;
    result.wasmMemoryBytes = await device.memory();
    result.checks = {
      everyMessageStored: lost.length === 0,
      everySendSettled: s.pending === 0 && s.acked === o.messages,
      everyC2dDelivered: state.c2dSent.every((id) => s.c2d[id] >= 1),
      desiredViewEqualsTwin: sameJson(s.desired, twin.properties.desired),
      connected: s.state === "connected",
      hubRestarted: emu.starts - 1 >= Math.min(1, o.restarts),
    };
    if (!result.checks.desiredViewEqualsTwin) result.desiredMismatch = { device: s.desired, twin: twin.properties.desired };
    if (lost.length) result.lostIds = lost.slice(0, 20);
    // The secret scan: device logs and error texts, String/inspect of the client, the page
    // console, this runner's output and the emulator's log (less its credential banner).
    const tokens = await device.tokens();
    const secrets = [
      { kind: "device primary key", value: keys.primaryKey },
      { kind: "device secondary key", value: keys.secondaryKey },
      { kind: "service key", value: /SharedAccessKey=([^;]+)/.exec(emu.info.serviceConnectionString)[1] },
      ...tokens.flatMap(tokenSecrets),
    ];
    const texts = [
      ...(await device.texts()).map((text) => ({ where: "device", text })),
      ...logLines.map((text) => ({ where: "page console", text })),
      ...out.map((text) => ({ where: "runner output", text })),
      { where: "emulator log", text: withoutCredentialBanner(emu.logText()) },
    ];
    result.tokensInUse = tokens.length;
    result.secretFindings = findSecrets(texts, secrets);
    result.checks.noSecretInLogs = tokens.length > 0 && result.secretFindings.length === 0;
    result.ok = Object.values(result.checks).every(Boolean);
  } catch (e) {
    result.error = e.stack || String(e);
  } finally {
    if (stopService) await stopService().catch(() => {});
    if (device) await device.close().catch(() => {});
    await emu.stop();
    result.seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
    if (!o.keep && result.ok) fs.rmSync(dir, { recursive: true, force: true });
    else result.scratch = dir;
  }
  say(summary(result));
  return result;
}

export function summary(r) {
  return `soak ${r.runtime} (seed ${r.seed}): sent ${r.sent ?? "?"} / stored ${r.stored ?? "?"} / duplicated ${r.duplicated ?? "?"} / lost ${r.lost ?? "?"} / reconnects ${r.reconnects ?? "?"} / faults ${Object.values(r.faults || {}).reduce((a, b) => a + b, 0)} (restarts ${r.restarts ?? 0}) / time ${r.seconds} s — ${r.ok ? "ok" : "FAILED " + JSON.stringify({ checks: r.checks, error: r.error })}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  const r = await runSoak(o);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(r, null, 2));
  if (!r.ok) console.log(JSON.stringify(r, null, 2));
  process.exit(r.ok ? 0 : 1);
}
