// bench/run.mjs's QoS 0 burst section (the in-page half is bench/web/burst.js): msg/s of a
// burst of QoS 0 telemetry up to the trailing QoS 1 message's PUBACK, hubwire beside MQTT.js
// and a raw WebSocket sending pre-encoded frames.

const LIBS = ["hubwire", "mqttjs", "raw"];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

export async function runBurst(page, cfgs, { count, size, chunk, rounds, log }) {
  const runs = Object.fromEntries(LIBS.map((l) => [l, []]));
  for (let round = 0; round < rounds; round++) {
    for (const lib of LIBS.map((_, i) => LIBS[(i + round) % LIBS.length])) {
      const r = await page.evaluate((a) => window.bench.qos0Burst(a), { lib, cfg: cfgs[lib], count, size, chunk });
      log(`qos 0 burst round ${round + 1} ${lib}: ${r.msgsPerSec.toFixed(0)} msg/s (written in ${r.writtenMs.toFixed(0)} ms, PUBACK of the last after ${r.ms.toFixed(0)} ms)`);
      runs[lib].push(r);
    }
  }
  const out = { count, size, chunk, rounds, libs: {} };
  for (const lib of LIBS) {
    const m = median(runs[lib].map((r) => r.msgsPerSec));
    out.libs[lib] = {
      msgsPerSec: m, runs: runs[lib].map((r) => r.msgsPerSec), writtenMs: median(runs[lib].map((r) => r.writtenMs)),
      packetsPerWsMessage: median(runs[lib].map((r) => (r.count + 1) / r.wsMessages)),
    };
  }
  for (const lib of LIBS) out.libs[lib].ratioToRaw = out.libs[lib].msgsPerSec / out.libs.raw.msgsPerSec;
  out.hubwireToMqttjs = out.libs.hubwire.msgsPerSec / out.libs.mqttjs.msgsPerSec;
  return out;
}

const f0 = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));
const f2 = (x) => (x == null ? "—" : x.toFixed(2));
const NAMES = { hubwire: "hubwire", mqttjs: "MQTT.js", raw: "raw WebSocket, pre-encoded frames, one message per chunk" };

export function burstMarkdown(b) {
  const L = [];
  L.push(`## QoS 0 burst, ${b.size} B, ${b.count.toLocaleString("en-US")} messages in chunks of ${b.chunk}, to the PUBACK of one trailing QoS 1 message (median of ${b.rounds})`, "");
  L.push(`| client | msg/s | × raw | × MQTT.js | all written after (ms) | PUBLISHes per WebSocket message | runs (msg/s) |`, `|---|---:|---:|---:|---:|---:|---|`);
  for (const [lib, v] of Object.entries(b.libs)) {
    L.push(`| ${NAMES[lib]} | ${f0(v.msgsPerSec)} | ${f2(v.ratioToRaw)} | ${f2(v.msgsPerSec / b.libs.mqttjs.msgsPerSec)} | ${f0(v.writtenMs)} | ${f2(v.packetsPerWsMessage)} | ${v.runs.map(f0).join(", ")} |`);
  }
  L.push("");
  return L.join("\n");
}

export function burstFigures(b) {
  return Object.entries(b.libs).map(([lib, v]) => [`qos0 burst ${lib}`, v.msgsPerSec]);
}
