// Connect latency, in the bench page: how long a fresh client takes from nothing to
// CONNACK on loopback. bench/connect.mjs drives it and computes the percentiles.
//
// hubwire, per sample: import a fresh copy of the glue (a new module instance:
// fetch + evaluate), instantiate the .wasm from its bytes (compile + instantiate;
// the bytes are fetched once, before timing), DeviceClient.fromConnectionString,
// connect() (SAS signed in wasm, WebSocket opened, CONNECT, CONNACK). MQTT.js:
// mqtt.connect with the SAS signed beforehand (in Node) to its "connect" event.
// raw: a WebSocket and a hand-made CONNECT to CONNACK (the floor for any client here).

import { connectMqttjs, rawConnect } from "/bench.js";

let wasmBytes = null;

async function hubwireSample(cfg, i) {
  if (!wasmBytes) wasmBytes = await (await fetch("/hubwire/hubwire_bg.wasm")).arrayBuffer();
  const t0 = performance.now();
  const glue = await import(`/hubwire/hubwire.js?connect=${i}`);
  const t1 = performance.now();
  await glue.default({ module_or_path: wasmBytes });
  const t2 = performance.now();
  const c = glue.DeviceClient.fromConnectionString(cfg.connectionString, { url: cfg.wsUrl, cleanSession: true });
  await c.connect();
  const t3 = performance.now();
  await c.disconnect();
  c.close();
  return { totalMs: t3 - t0, importMs: t1 - t0, instantiateMs: t2 - t1, connectMs: t3 - t2 };
}

async function mqttjsSample(cfg) {
  const t0 = performance.now();
  const c = await connectMqttjs(cfg);
  const t1 = performance.now();
  await new Promise((resolve) => c.end(false, {}, resolve));
  return { totalMs: t1 - t0, connectMs: t1 - t0 };
}

async function rawSample(cfg) {
  const t0 = performance.now();
  const ws = await rawConnect(cfg, () => {});
  const t1 = performance.now();
  ws.close(1000);
  return { totalMs: t1 - t0, connectMs: t1 - t0 };
}

/** `samples` fresh connects (after `warmup` unmeasured ones), one at a time; per-phase milliseconds. */
export async function connectLatency({ lib, cfg, samples, warmup }) {
  const out = [];
  for (let i = 0; i < warmup + samples; i++) {
    const r = lib === "hubwire" ? await hubwireSample(cfg, `${lib}-${Date.now()}-${i}`) : lib === "mqttjs" ? await mqttjsSample(cfg) : await rawSample(cfg);
    if (i >= warmup) out.push(r);
    // Let the previous connection's close reach the emulator before the same device connects again.
    await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}
