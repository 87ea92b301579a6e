// The in-page half of the hubwire benchmarks. bench/run.mjs loads this page in
// headless Chromium and calls these functions with page.evaluate; every
// function returns plain numbers (no timing is judged here).
//
// Three clients send the same QoS 1 telemetry to the emulator:
// - "hubwire": DeviceClient from /hubwire/hubwire.js (the wasm-bindgen glue and .wasm)
// - "mqttjs":  MQTT.js's browser bundle (window.mqtt, from /vendor/mqtt.min.js)
// - "raw":     a WebSocket with a hand-made CONNECT and pre-encoded PUBLISH frames,
//              counting PUBACKs: the ceiling for any client in this page.

import initWasm, { DeviceClient } from "/hubwire/hubwire.js";

let wasm = null;

// Counts WebSocket messages sent by any client in this page (one counter, read before and after a run).
let wsSends = 0;
export const wsSendCount = () => wsSends;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  wsSends++;
  return send.call(this, data);
};

/** Loads the wasm once; returns what the page knows about itself. */
export async function init_() {
  // ?wasm=PATH: another build of the same .wasm (bench/profile.mjs loads the names-kept twin).
  const path = new URLSearchParams(location.search).get("wasm") || "/hubwire/hubwire_bg.wasm";
  wasm = await initWasm({ module_or_path: new URL(path, import.meta.url) });
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: self.crossOriginIsolated,
    mqttjs: typeof mqtt === "object" && mqtt !== null,
    wasmMemoryBytes: wasm.memory.buffer.byteLength,
  };
}
export { init_ as init };

// ------------------------------------------------------------ MQTT by hand

const enc = new TextEncoder();

export function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

export function str(s) {
  const b = enc.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

export function connectFrame({ deviceId: clientId, username, password, keepAlive = 60 }) {
  const body = [0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x80 | 0x40 | 0x02, keepAlive >> 8, keepAlive & 0xff,
    ...str(clientId), ...str(username), ...str(password)];
  return new Uint8Array([0x10, ...varint(body.length), ...body]);
}

/**
 * count PUBLISH frames (QoS 1, or QoS 0 without packet ids) back to back in one buffer;
 * offsets[i] is where frame i starts.
 */
export function publishFrames(topic, payload, count, qos = 1) {
  const t = str(topic);
  const pidLen = qos ? 2 : 0;
  const rem = t.length + pidLen + payload.length;
  const head = [qos ? 0x32 : 0x30, ...varint(rem)];
  const frameLen = head.length + rem;
  const buf = new Uint8Array(frameLen * count);
  const offsets = new Array(count + 1);
  for (let i = 0; i < count; i++) {
    const o = i * frameLen;
    offsets[i] = o;
    const pid = (i % 65535) + 1;
    buf.set(head, o);
    buf.set(t, o + head.length);
    if (qos) {
      buf[o + head.length + t.length] = pid >> 8;
      buf[o + head.length + t.length + 1] = pid & 0xff;
    }
    buf.set(payload, o + head.length + t.length + pidLen);
  }
  offsets[count] = frameLen * count;
  return { buf, offsets };
}

/** Splits the incoming byte stream into MQTT packets: calls onPacket(type, bytes) for each. */
function packetReader(onPacket) {
  let pending = new Uint8Array(0);
  return (data) => {
    let buf = new Uint8Array(data);
    if (pending.length) {
      const joined = new Uint8Array(pending.length + buf.length);
      joined.set(pending);
      joined.set(buf, pending.length);
      buf = joined;
    }
    let pos = 0;
    for (;;) {
      if (buf.length - pos < 2) break;
      let len = 0, mul = 1, i = pos + 1, done = false;
      while (i < buf.length && i < pos + 5) {
        const b = buf[i++];
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) { done = true; break; }
      }
      if (!done || buf.length - i < len) break;
      onPacket(buf[pos] >> 4, buf.subarray(i, i + len));
      pos = i + len;
    }
    pending = buf.slice(pos);
  };
}

/** A raw MQTT-over-WebSocket connection: resolves once CONNACK 0 arrives. */
export function rawConnect(cfg, onPuback) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cfg.wsUrl, ["mqtt"]);
    ws.binaryType = "arraybuffer";
    const read = packetReader((type, body) => {
      if (type === 2) {
        if (body[1] === 0) resolve(ws); else reject(new Error(`CONNACK ${body[1]}`));
      } else if (type === 4) {
        onPuback((body[0] << 8) | body[1]);
      }
    });
    ws.addEventListener("open", () => ws.send(connectFrame(cfg)));
    ws.addEventListener("message", (ev) => read(ev.data));
    ws.addEventListener("error", () => reject(new Error("raw WebSocket error")));
    ws.addEventListener("close", (ev) => reject(new Error(`raw WebSocket closed ${ev.code}`)));
  });
}

// ------------------------------------------------------------ clients behind one interface
//
// open(cfg) -> { send(): Promise<void> (settles on PUBACK), close() }

export const topicOf = (cfg) => `devices/${cfg.deviceId}/messages/events/`;

/**
 * A WebSocketLike for hubwire's `webSocketFactory` that sends everything written
 * in one task as one WebSocket message (at the next microtask). MQTT allows several
 * packets per message; this is what MQTT.js's browser stream does with writev.
 */
export function batchingWebSocket(url, protocols) {
  const ws = new WebSocket(url, protocols);
  let parts = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (parts.length === 0 || ws.readyState !== WebSocket.OPEN) {
      parts = [];
      return;
    }
    if (parts.length === 1) {
      ws.send(parts[0]);
    } else {
      let n = 0;
      for (const p of parts) n += p.byteLength;
      const all = new Uint8Array(n);
      let o = 0;
      for (const p of parts) { all.set(new Uint8Array(p), o); o += p.byteLength; }
      ws.send(all);
    }
    parts = [];
  };
  return {
    get readyState() { return ws.readyState; },
    get binaryType() { return ws.binaryType; },
    set binaryType(v) { ws.binaryType = v; },
    send(data) { // hubwire passes a fresh ArrayBuffer each time, so it may be kept until the flush
      parts.push(data);
      if (!scheduled) { scheduled = true; queueMicrotask(flush); }
    },
    close(code, reason) { flush(); ws.close(code, reason); },
    addEventListener: (t, l) => ws.addEventListener(t, l),
    removeEventListener: (t, l) => ws.removeEventListener(t, l),
  };
}

async function openHubwire(cfg, payload, batchWs = false) {
  const c = DeviceClient.fromConnectionString(cfg.connectionString, {
    url: cfg.wsUrl, cleanSession: true, ...(batchWs ? { webSocketFactory: batchingWebSocket } : {}),
  });
  await c.connect();
  return {
    send: () => c.sendEvent(payload),
    close: async () => { await c.disconnect(); c.close(); },
  };
}

/** An MQTT.js client connected to the emulator as `cfg`'s device (resolves on its "connect"). */
export async function connectMqttjs(cfg) {
  const c = mqtt.connect(cfg.wsUrl, {
    clientId: cfg.deviceId, username: cfg.username, password: cfg.password,
    protocolVersion: 4, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 10000,
  });
  await new Promise((resolve, reject) => {
    c.once("connect", resolve);
    c.once("error", reject);
  });
  return c;
}

export async function openMqttjs(cfg, payload) {
  const c = await connectMqttjs(cfg);
  const topic = topicOf(cfg);
  const body = mqtt.Buffer ? mqtt.Buffer.from(payload) : payload;
  return {
    client: c,
    send: () => new Promise((resolve, reject) =>
      c.publish(topic, body, { qos: 1 }, (err) => (err ? reject(err) : resolve()))),
    close: () => new Promise((resolve) => c.end(false, {}, resolve)),
  };
}

// The raw client for latency: one frame at a time.
async function openRaw(cfg, payload, count) {
  const frames = publishFrames(topicOf(cfg), payload, count);
  const waiting = new Map();
  const ws = await rawConnect(cfg, (pid) => {
    const r = waiting.get(pid);
    if (r) { waiting.delete(pid); r(); }
  });
  let i = 0;
  return {
    send: () => new Promise((resolve) => {
      const pid = (i % 65535) + 1;
      waiting.set(pid, resolve);
      ws.send(frames.buf.subarray(frames.offsets[i], frames.offsets[i + 1]));
      i++;
    }),
    close: async () => ws.close(1000),
  };
}

const OPEN = {
  hubwire: openHubwire,
  "hubwire-batchws": (cfg, payload) => openHubwire(cfg, payload, true),
  mqttjs: openMqttjs,
};

// ------------------------------------------------------------ throughput

/**
 * Sends `count` QoS 1 messages of `size` bytes with at most `window` unacknowledged,
 * and times first send to last PUBACK (connecting is not timed).
 * lib: "hubwire" | "hubwire-batchws" (with batchingWebSocket) | "mqttjs" | "raw" (a new WebSocket message per frame) |
 *      "raw-batched" (all frames a wake-up may send in one WebSocket message, as hubwire coalesces).
 */
export async function throughput({ lib, cfg, count, size, window }) {
  const payload = new Uint8Array(size).fill(0x78);
  if (lib === "raw" || lib === "raw-batched") return rawThroughput({ cfg, count, payload, window, batched: lib === "raw-batched" });
  const client = await OPEN[lib](cfg, payload);
  let sent = 0, acked = 0, failed = 0;
  const sends0 = wsSends;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const done = () => {
      acked++;
      if (acked === count) resolve(); else pump();
    };
    const fail = (e) => { failed++; reject(e); };
    function pump() {
      while (sent < count && sent - acked < window) {
        sent++;
        client.send().then(done, fail);
      }
    }
    pump();
  });
  const ms = performance.now() - t0;
  const wsMessages = wsSends - sends0;
  await client.close();
  return { lib, count, size, window, ms, msgsPerSec: (count * 1000) / ms, wsMessages, failed };
}

async function rawThroughput({ cfg, count, payload, window, batched }) {
  const frames = publishFrames(topicOf(cfg), payload, count);
  let sent = 0, acked = 0, t0 = 0, sends0 = 0, resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  let ws = null;
  const pump = () => {
    if (batched) {
      const n = Math.min(count - sent, window - (sent - acked));
      if (n <= 0) return;
      ws.send(frames.buf.subarray(frames.offsets[sent], frames.offsets[sent + n]));
      sent += n;
    } else {
      while (sent < count && sent - acked < window) {
        ws.send(frames.buf.subarray(frames.offsets[sent], frames.offsets[sent + 1]));
        sent++;
      }
    }
  };
  // PUBACKs arrive in order; pump once per WebSocket message, not per PUBACK.
  let inMessage = false;
  ws = await rawConnect(cfg, () => {
    acked++;
    if (acked === count) resolveDone();
    else if (!inMessage) { inMessage = true; queueMicrotask(() => { inMessage = false; pump(); }); }
  });
  sends0 = wsSends;
  t0 = performance.now();
  pump();
  await done;
  const ms = performance.now() - t0;
  const wsMessages = wsSends - sends0;
  ws.close(1000);
  return { lib: batched ? "raw-batched" : "raw", count, size: payload.length, window, ms, msgsPerSec: (count * 1000) / ms, wsMessages, failed: 0 };
}

// ------------------------------------------------------------ latency

/** `samples` sequential publish -> PUBACK round trips after `warmup` unmeasured ones. */
export async function latency({ lib, cfg, samples, warmup, size }) {
  const payload = new Uint8Array(size).fill(0x78);
  const client = lib === "raw" ? await openRaw(cfg, payload, samples + warmup) : await OPEN[lib](cfg, payload);
  for (let i = 0; i < warmup; i++) await client.send();
  const rtt = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await client.send();
    rtt[i] = performance.now() - t0;
  }
  await client.close();
  return { lib, samples, size, rttMs: Array.from(rtt) };
}

// ------------------------------------------------------------ devices per tab

const fleet = { clients: [], timers: [], sent: 0, acked: 0, errors: 0, errorCodes: {} };

export function wasmMemoryBytes() {
  return wasm.memory.buffer.byteLength;
}

/** Builds one DeviceClient per connection string (not connected yet). */
export function fleetCreate({ wsUrl, connectionStrings }) {
  for (const cs of connectionStrings) {
    fleet.clients.push(DeviceClient.fromConnectionString(cs, { url: wsUrl, cleanSession: true }));
  }
  return { clients: fleet.clients.length, wasmMemoryBytes: wasmMemoryBytes() };
}

/** Connects the clients `concurrency` at a time (as the dashboard's fleet does); each gets up to timeoutMs. */
export async function fleetConnect({ concurrency, timeoutMs, from = 0 }) {
  const t0 = performance.now();
  const list = fleet.clients.slice(from);
  let next = 0, connected = 0;
  const failures = {}, disconnects = {};
  const worker = async () => {
    while (next < list.length) {
      const c = list[next++];
      const onDown = (e) => { disconnects[e.code] = (disconnects[e.code] || 0) + 1; };
      c.on("disconnected", onDown);
      try {
        await Promise.race([
          c.connect(),
          new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error("timeout"), { code: "BENCH_TIMEOUT" })), timeoutMs)),
        ]);
        connected++;
      } catch (e) {
        failures[e.code || e.message] = (failures[e.code || e.message] || 0) + 1;
      }
      c.off("disconnected", onDown);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { attempted: list.length, connected, failures, disconnects, ms: performance.now() - t0, wasmMemoryBytes: wasmMemoryBytes() };
}

/** Every connected client sends one small JSON message per `intervalMs` (random phase) for `seconds`. */
export async function fleetSend({ seconds, intervalMs }) {
  fleet.sent = fleet.acked = fleet.errors = 0;
  const body = { t: 21.5, h: 44, seq: 0 };
  const active = fleet.clients.filter((c) => c.state === "connected");
  for (const c of active) {
    const tick = () => {
      fleet.sent++;
      body.seq++;
      c.sendEvent(body).then(() => { fleet.acked++; }, (e) => {
        fleet.errors++;
        fleet.errorCodes[e.code] = (fleet.errorCodes[e.code] || 0) + 1;
      });
    };
    fleet.timers.push(setTimeout(() => {
      tick();
      fleet.timers.push(setInterval(tick, intervalMs));
    }, Math.random() * intervalMs));
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  for (const t of fleet.timers) { clearTimeout(t); clearInterval(t); }
  fleet.timers = [];
  await new Promise((r) => setTimeout(r, 1000)); // let the last PUBACKs arrive
  return {
    sending: active.length, seconds, sent: fleet.sent, acked: fleet.acked, errors: fleet.errors,
    errorCodes: fleet.errorCodes, ackedPerSec: fleet.acked / seconds,
    stillConnected: fleet.clients.filter((c) => c.state === "connected").length,
    wasmMemoryBytes: wasmMemoryBytes(),
  };
}

export async function fleetClose() {
  const n = fleet.clients.length;
  await Promise.all(fleet.clients.map((c) => c.disconnect().catch(() => {})));
  for (const c of fleet.clients) c.free(); // free() implies close()
  fleet.clients = [];
  return { closed: n, wasmMemoryBytes: wasmMemoryBytes() };
}
