// The one device script every runtime runs (Node 22, Node 20 + ws, Deno, Bun,
// workerd): create a device through the service API, connect, send 100 QoS 1
// messages, answer a direct method invoked through the service API, receive a
// desired-properties patch and a cloud-to-device message, report a property,
// disconnect. It throws with a
// precise message on the first thing that is wrong and returns a summary.
//
// Only web-standard APIs are used here (fetch, crypto.subtle, setTimeout), so
// the runtime-specific part is just how `hubwire` and the emulator's address
// reach `runRoundtrip` (see examples/runtimes/main.mjs and
// examples/cloudflare-worker/worker.mjs).

import { ServiceClient } from "./service.mjs";

const MESSAGES = 100;

function check(cond, what) {
  if (!cond) throw new Error(`roundtrip: ${what}`);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`roundtrip: timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`roundtrip: timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * @param {{ DeviceClient: typeof import("hubwire").DeviceClient, webSocketFactory?: import("hubwire").ClientOptions["webSocketFactory"] }} hubwire
 * @param {{ httpUrl: string, wsUrl: string, serviceConnectionString: string }} emulator  the emulator's ready JSON
 * @param {{ runtime: string, messages?: number, log?: (line: string) => void }} opts
 */
export async function runRoundtrip({ DeviceClient, webSocketFactory }, emulator, { runtime, messages = MESSAGES, log = () => {} }) {
  const service = new ServiceClient(emulator);
  const deviceId = `rt-${runtime.replace(/[^A-Za-z0-9-]/g, "-")}-${Math.random().toString(36).slice(2, 8)}`;
  const { connectionString } = await service.createDevice(deviceId);
  log(`device ${deviceId} created`);

  const options = { url: emulator.wsUrl, retry: { minDelayMs: 100, maxDelayMs: 1000 }, ...(webSocketFactory ? { webSocketFactory } : {}) };
  const client = DeviceClient.fromConnectionString(connectionString, options);
  const errors = [];
  client.on("error", (e) => errors.push(`${e.code}: ${e.message}`));

  const methodCalls = [];
  client.onMethod("echo", (req) => {
    methodCalls.push(req);
    return { status: 200, payload: { echoed: req.payload, runtime } };
  });
  let onC2d;
  client.onMessage((m) => onC2d && onC2d(m));
  let onPatch;
  const patches = [];
  client.onDesiredPropertiesUpdate((patch) => {
    patches.push(patch);
    if (onPatch) onPatch(patch);
  });

  try {
    check(client.state === "disconnected", `state before connect is ${client.state}`);
    const connected = new Promise((resolve) => client.on("connected", resolve));
    await withTimeout(client.connect(), 10000, "connect()");
    await withTimeout(connected, 1000, "the connected event");
    check(client.state === "connected", `state after connect is ${client.state}`);
    log("connected");

    // 100 QoS 1 messages, all in flight at once; each resolves on its PUBACK.
    const t0 = Date.now();
    await withTimeout(
      Promise.all(
        Array.from({ length: messages }, (_, i) =>
          client.sendEvent({ seq: i, runtime }, { qos: 1, messageId: `${deviceId}-${i}`, contentType: "application/json", contentEncoding: "utf-8", properties: { runtime, seq: String(i) } }),
        ),
      ),
      20000,
      `${messages} PUBACKs`,
    );
    const sendMs = Date.now() - t0;
    log(`${messages} messages acknowledged in ${sendMs} ms`);

    const received = await until(
      async () => {
        const items = await service.telemetry(deviceId);
        return items.length >= messages ? items : null;
      },
      10000,
      `the emulator to hold ${messages} messages`,
    );
    check(received.length === messages, `the emulator holds ${received.length} messages, expected ${messages}`);
    const seqs = new Set();
    for (const item of received) {
      const body = JSON.parse(item.body);
      check(body.runtime === runtime, `message body ${item.body} lacks runtime ${runtime}`);
      check(item.properties.runtime === runtime && item.properties.seq === String(body.seq), `application properties ${JSON.stringify(item.properties)} for body ${item.body}`);
      check(item.systemProperties.messageId === `${deviceId}-${body.seq}`, `messageId ${item.systemProperties.messageId} for seq ${body.seq}`);
      seqs.add(body.seq);
    }
    check(seqs.size === messages, `${seqs.size} distinct messages received, expected ${messages}`);

    // A direct method invoked by the service, answered by the handler above.
    const nonce = Math.random().toString(36).slice(2);
    const answer = await service.invokeMethod(deviceId, "echo", { nonce });
    check(answer.status === 200, `method status ${answer.status}`);
    check(answer.payload && answer.payload.echoed && answer.payload.echoed.nonce === nonce && answer.payload.runtime === runtime, `method payload ${JSON.stringify(answer.payload)}`);
    check(methodCalls.length === 1 && methodCalls[0].name === "echo", `method calls seen by the device: ${JSON.stringify(methodCalls)}`);
    const unknown = await service.invokeMethod(deviceId, "no-such-method", null);
    check(unknown.status === 501, `an unknown method answered ${unknown.status}, expected 501`);
    log("direct methods answered");

    // A desired-properties patch pushed by the service.
    const patched = new Promise((resolve) => {
      onPatch = (p) => p.colour === nonce && resolve(p);
    });
    await service.patchDesired(deviceId, { colour: nonce });
    const patch = await withTimeout(patched, 10000, "the desired-properties patch");
    check(typeof patch.$version === "number" && patch.$version >= 2, `desired patch $version ${patch.$version}`);
    log(`desired patch received ($version ${patch.$version})`);

    // A cloud-to-device message with properties.
    const c2d = new Promise((resolve) => {
      onC2d = (m) => m.messageId === `c2d-${nonce}` && resolve(m);
    });
    await service.sendC2d(deviceId, JSON.stringify({ command: "blink", nonce }), {
      messageId: `c2d-${nonce}`,
      correlationId: `corr-${nonce}`,
      contentType: "application/json",
      properties: { priority: "high" },
    });
    const m = await withTimeout(c2d, 10000, "the cloud-to-device message");
    check(m.body instanceof Uint8Array && m.json().nonce === nonce && m.text().includes("blink"), `c2d body ${m.text()}`);
    check(m.correlationId === `corr-${nonce}`, `c2d correlationId ${m.correlationId}`);
    check(m.properties.priority === "high", `c2d properties ${JSON.stringify(m.properties)}`);
    log("cloud-to-device message received");

    // Reported properties, seen by the service.
    const reportedVersion = await withTimeout(client.updateReportedProperties({ runtime, nonce }), 10000, "updateReportedProperties()");
    check(typeof reportedVersion === "number", `updateReportedProperties resolved ${reportedVersion}`);
    const twin = await service.getTwin(deviceId);
    check(twin.properties.reported.nonce === nonce && twin.properties.reported.$version === reportedVersion, `service twin reported ${JSON.stringify(twin.properties.reported)}`);

    // The hub drops the connection: the client reconnects by itself and carries on.
    let reconnected;
    const again = new Promise((resolve) => (reconnected = resolve));
    client.on("connected", () => reconnected());
    const drops = [];
    client.on("disconnected", (e) => drops.push(e));
    await service.fault(deviceId, { kind: "drop" });
    await withTimeout(again, 10000, "a reconnect after the hub dropped the connection");
    check(drops.length >= 1 && drops[0].willRetry === true, `disconnected events ${JSON.stringify(drops)}`);
    await withTimeout(client.sendEvent({ seq: messages, runtime, after: "reconnect" }, { qos: 1, messageId: `${deviceId}-${messages}`, properties: { runtime, seq: String(messages) } }), 10000, "a PUBACK after the reconnect");
    const afterReconnect = await service.telemetry(deviceId);
    check(afterReconnect.length === messages + 1, `the emulator holds ${afterReconnect.length} messages after the reconnect, expected ${messages + 1}`);
    log("reconnected after a drop");

    await withTimeout(client.disconnect(), 5000, "disconnect()");
    check(client.state === "disconnected", `state after disconnect is ${client.state}`);
    const conn = await until(async () => {
      const c = await service.connection(deviceId);
      return c.connected ? null : c;
    }, 5000, "the emulator to see the device disconnected");
    log("disconnected");
    check(errors.length === 0, `error events: ${errors.join("; ")}`);

    return {
      ok: true,
      runtime,
      deviceId,
      sent: messages,
      received: received.length,
      sendMs,
      method: answer,
      unknownMethodStatus: unknown.status,
      desiredVersion: patch.$version,
      c2dProperties: m.properties,
      reconnects: drops.filter((d) => d.willRetry).length,
      reportedVersion,
      connectedAfterDisconnect: conn.connected,
    };
  } finally {
    client.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
}
