// QoS 0 burst, in the bench page: `count` QoS 0 telemetry messages written as fast as the
// client takes them (in chunks of `chunk`: every send of a chunk is issued, then the chunk's
// "written" is awaited), then one QoS 1 message whose PUBACK marks the end: the emulator
// handles one connection's packets in order, so that PUBACK means it has processed the
// whole burst. bench/burst.mjs drives it.
//
// hubwire: sendEvent(payload, { qos: 0 }) (resolves when written). MQTT.js: publish
// qos 0 (its callback fires when written). raw: pre-encoded QoS 0 frames, each chunk
// one WebSocket message (the ceiling).

import { DeviceClient } from "/hubwire/hubwire.js";
import { openMqttjs, publishFrames, rawConnect, topicOf, wsSendCount } from "/bench.js";

async function hubwireBurst({ cfg, payload, count, chunk }) {
  const c = DeviceClient.fromConnectionString(cfg.connectionString, { url: cfg.wsUrl, cleanSession: true });
  await c.connect();
  const q0 = { qos: 0 };
  const t0 = performance.now();
  for (let sent = 0; sent < count;) {
    const n = Math.min(chunk, count - sent);
    const written = new Array(n);
    for (let i = 0; i < n; i++) written[i] = c.sendEvent(payload, q0);
    await Promise.all(written);
    sent += n;
  }
  const tWritten = performance.now();
  await c.sendEvent(payload, { qos: 1 });
  const t1 = performance.now();
  await c.disconnect();
  c.close();
  return { writtenMs: tWritten - t0, ms: t1 - t0 };
}

async function mqttjsBurst({ cfg, payload, count, chunk }) {
  const c = await openMqttjs(cfg, payload);
  const client = c.client;
  const topic = topicOf(cfg);
  const body = mqtt.Buffer ? mqtt.Buffer.from(payload) : payload;
  const t0 = performance.now();
  for (let sent = 0; sent < count;) {
    const n = Math.min(chunk, count - sent);
    const written = new Array(n);
    for (let i = 0; i < n; i++) {
      written[i] = new Promise((resolve, reject) => client.publish(topic, body, { qos: 0 }, (e) => (e ? reject(e) : resolve())));
    }
    await Promise.all(written);
    sent += n;
  }
  const tWritten = performance.now();
  await c.send();
  const t1 = performance.now();
  await c.close();
  return { writtenMs: tWritten - t0, ms: t1 - t0 };
}

async function rawBurst({ cfg, payload, count, chunk }) {
  const frames = publishFrames(topicOf(cfg), payload, count, 0);
  const sentinel = publishFrames(topicOf(cfg), payload, 1, 1);
  let done;
  const acked = new Promise((r) => { done = r; });
  const ws = await rawConnect(cfg, () => done());
  const t0 = performance.now();
  for (let sent = 0; sent < count;) {
    const n = Math.min(chunk, count - sent);
    ws.send(frames.buf.subarray(frames.offsets[sent], frames.offsets[sent + n]));
    sent += n;
    await Promise.resolve();
  }
  const tWritten = performance.now();
  ws.send(sentinel.buf);
  await acked;
  const t1 = performance.now();
  ws.close(1000);
  return { writtenMs: tWritten - t0, ms: t1 - t0 };
}

/** One burst of `count` QoS 0 messages of `size` bytes; msg/s to the sentinel's PUBACK. */
export async function qos0Burst({ lib, cfg, count, size, chunk }) {
  const payload = new Uint8Array(size).fill(0x78);
  const sends0 = wsSendCount();
  const run = lib === "hubwire" ? hubwireBurst : lib === "mqttjs" ? mqttjsBurst : rawBurst;
  const r = await run({ cfg, payload, count, chunk });
  return { lib, count, size, chunk, ...r, msgsPerSec: (count * 1000) / r.ms, wsMessages: wsSendCount() - sends0 };
}
