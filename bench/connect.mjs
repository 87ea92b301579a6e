// bench/run.mjs's connect-latency section: fresh clients, one at a time, from nothing to
// CONNACK on loopback (the in-page half is bench/web/connect.js). Goal for hubwire:
// p50 <= 20 ms (issue 10); measured and printed, never asserted.

const LIBS = ["hubwire", "mqttjs", "raw"];
const PHASES = ["totalMs", "importMs", "instantiateMs", "connectMs"];

function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** `blocks` interleaved blocks of `samples` connects per client; percentiles of each phase. */
export async function runConnectLatency(page, cfgs, { samples, warmup, blocks, log }) {
  const all = Object.fromEntries(LIBS.map((l) => [l, []]));
  for (let b = 0; b < blocks; b++) {
    for (const lib of LIBS.map((_, i) => LIBS[(i + b) % LIBS.length])) {
      const r = await page.evaluate((a) => window.bench.connectLatency(a), { lib, cfg: cfgs[lib], samples, warmup: b === 0 ? warmup : 0 });
      all[lib].push(...r);
    }
  }
  const out = {};
  for (const lib of LIBS) {
    out[lib] = { samples: all[lib].length };
    for (const ph of PHASES) {
      const xs = all[lib].map((r) => r[ph]).filter((x) => typeof x === "number");
      if (xs.length) out[lib][ph] = percentiles(xs);
    }
    log(`connect ${lib}: p50 ${out[lib].totalMs.p50.toFixed(2)} ms, p99 ${out[lib].totalMs.p99.toFixed(2)} ms`);
  }
  return out;
}

const f2 = (x) => (x == null ? "—" : x.toFixed(2));
const NAMES = { hubwire: "hubwire: fresh glue + wasm instance + client", mqttjs: "MQTT.js (SAS signed beforehand)", raw: "raw WebSocket + hand-made CONNECT" };

export function connectMarkdown(c) {
  const L = [];
  const n = c.hubwire.samples;
  L.push(`## Connect latency, a fresh client to CONNACK on loopback, ${n} samples each (ms)`, "");
  L.push(`hubwire's sample: import a fresh copy of the glue, compile + instantiate the .wasm from its bytes, \`fromConnectionString\`, \`connect()\` (SAS signed in wasm, WebSocket, CONNECT, CONNACK). Goal: p50 ≤ 20 ms.`, "");
  L.push(`| client | p50 | p99 | max | mean |`, `|---|---:|---:|---:|---:|`);
  for (const [lib, v] of Object.entries(c)) L.push(`| ${NAMES[lib]} | ${f2(v.totalMs.p50)} | ${f2(v.totalMs.p99)} | ${f2(v.totalMs.max)} | ${f2(v.totalMs.mean)} |`);
  const h = c.hubwire;
  L.push(`| — hubwire: import the glue | ${f2(h.importMs.p50)} | ${f2(h.importMs.p99)} | ${f2(h.importMs.max)} | ${f2(h.importMs.mean)} |`);
  L.push(`| — hubwire: compile + instantiate the .wasm | ${f2(h.instantiateMs.p50)} | ${f2(h.instantiateMs.p99)} | ${f2(h.instantiateMs.max)} | ${f2(h.instantiateMs.mean)} |`);
  L.push(`| — hubwire: fromConnectionString + connect() | ${f2(h.connectMs.p50)} | ${f2(h.connectMs.p99)} | ${f2(h.connectMs.max)} | ${f2(h.connectMs.mean)} |`, "");
  return L.join("\n");
}

export function connectFigures(c) {
  return Object.entries(c).flatMap(([lib, v]) => [[`connect ${lib} p50`, v.totalMs.p50], [`connect ${lib} p99`, v.totalMs.p99]]);
}
