// Bad inputs from the application (docs/bad-inputs.md): one test per row group of
// that table, run on the packed `hubwire` package in Node 22 against the emulator.
// Each case checks the error `code` and what is guaranteed afterwards (nothing
// queued or sent, the connection untouched, the client usable).
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { installPackage, startEmulator } from "./helpers.mjs";

let emu;
let service;
let DeviceClient;

before(async () => {
  emu = await startEmulator();
  service = new ServiceClient(emu);
  const app = installPackage("bad-inputs");
  ({ DeviceClient } = await import(pathToFileURL(join(app.dir, "node_modules", "hubwire", "node.js")).href));
});

after(async () => {
  await emu?.stop();
});

const KEY = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkw";
const rand = () => Math.random().toString(36).slice(2, 8);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asserts `f()` throws a HubwireError with `code` (and a message matching `re`). */
function throwsCode(f, code, re, label = String(re)) {
  let err;
  try {
    f();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${label}: did not throw`);
  assert.equal(err.name, "HubwireError", `${label}: ${err}`);
  assert.equal(err.code, code, `${label}: ${err.message}`);
  assert.equal(err.retryable, false, label);
  if (re) assert.match(err.message, re, label);
  return err;
}

/** Asserts `p` rejects with a HubwireError with `code`; returns it. */
async function rejectsCode(p, code, label = code) {
  const err = await p.then(
    () => assert.fail(`${label}: resolved`),
    (e) => e,
  );
  assert.equal(err.name, "HubwireError", `${label}: ${err}`);
  assert.equal(err.code, code, `${label}: ${err.message}`);
  return err;
}

/** A device and a client for it with `options` (not connected), recording its events. */
async function device(options = {}) {
  const deviceId = `bad-${rand()}`;
  const { connectionString } = await service.createDevice(deviceId);
  const client = DeviceClient.fromConnectionString(connectionString, { url: emu.wsUrl, ...options });
  const events = { disconnected: [], error: [], connected: [] };
  for (const k of Object.keys(events)) client.on(k, (v) => events[k].push(v));
  return { deviceId, connectionString, client, events };
}

async function connected(options) {
  const d = await device(options);
  await d.client.connect();
  return d;
}

/** The connection is untouched: connected, no `disconnected`, no reconnect. */
function untouched({ client, events }) {
  assert.equal(client.state, "connected");
  assert.deepEqual(events.disconnected, [], "no disconnected event");
  assert.equal(events.connected.length, 1, "one connection");
}

const bodies = async (deviceId) => (await service.telemetry(deviceId)).map((i) => i.body);

test("bad_connection_strings_refused_at_construction_fails", () => {
  const H = "HostName=h.example", D = "DeviceId=d1", K = `SharedAccessKey=${KEY}`;
  for (const [cs, names] of [
    [`${D};${K}`, /HostName/],
    [`${H};${K}`, /DeviceId/],
    [`${H};${D}`, /SharedAccessKey/],
    [`${H};DeviceId=;${K}`, /DeviceId is empty/],
    [`${H};${D};${K};${D}`, /DeviceId appears more than once/],
    [`${H};${D};SharedAccessKey=not*base64!TOPSECRET`, /SharedAccessKey is invalid/],
    [`${H};${D};${K};garbage`, /segment 3 is not key=value/],
    [`${H};${D};${K};SharedAccessSignature=SharedAccessSignature sr=h&sig=s&se=1`, /cannot be used together/],
    [`${H};${D};SharedAccessSignature=not-a-token`, /SharedAccessSignature is invalid/],
    ["", /HostName/],
    [`HostName=h/x;${D};${K}`, /HostName is invalid/],
    [`${H};DeviceId=d 1;${K}`, /device id contains the character ' '/],
    [`${H};DeviceId=d#1;${K}`, /device id contains the character '#'/],
    [`${H};DeviceId=${"d".repeat(129)};${K}`, /device id is 129 characters long/],
    [`${H};${D};ModuleId=m/1;${K}`, /module id contains the character '\/'/],
  ]) {
    const e = throwsCode(() => DeviceClient.fromConnectionString(cs), "INVALID_CONNECTION_STRING", names, cs);
    assert.ok(!e.message.includes(KEY) && !e.message.includes("TOPSECRET"), `${cs}: the message shows the key`);
  }
  // A value that is not a string (a number used to trap inside the wasm) is read as "".
  for (const v of [undefined, null, 42, {}, ["HostName=h"]]) {
    throwsCode(() => DeviceClient.fromConnectionString(v), "INVALID_CONNECTION_STRING", /has no HostName/, String(v));
  }
});

test("unknown_connection_string_key_ignored_succeeds", async () => {
  // Like azure-iot-common: keys it does not know are ignored (a misspelt known key is then missing).
  const deviceId = `bad-${rand()}`;
  const { connectionString } = await service.createDevice(deviceId);
  const c = DeviceClient.fromConnectionString(`Foo=bar;x509=false;${connectionString};Extra=1`, { url: emu.wsUrl });
  try {
    await c.connect();
    await c.sendEvent("with unknown keys");
    assert.deepEqual(await bodies(deviceId), ["with unknown keys"]);
  } finally {
    c.close();
  }
  throwsCode(() => DeviceClient.fromConnectionString(connectionString.replace("DeviceId", "DeviceID")), "INVALID_CONNECTION_STRING", /has no DeviceId/);
});

test("bad_ids_and_providers_refused_at_construction_fails", () => {
  const getToken = async () => "x";
  for (const [p, re] of [
    [{ hostName: "h", deviceId: "a b", getToken }, /device id contains the character ' '/],
    [{ hostName: "h", deviceId: "", getToken }, /device id is empty/],
    [{ hostName: "h", deviceId: "d".repeat(129), getToken }, /device id is 129 characters long/],
    [{ hostName: "h", deviceId: "d", moduleId: "m#", getToken }, /module id contains the character '#'/],
    [{ hostName: "h", deviceId: "d", moduleId: "", getToken }, /module id is empty/],
    [{ hostName: "h", getToken }, /provider.deviceId is required/],
    [{ hostName: "h", deviceId: 7, getToken }, /provider.deviceId must be a string/],
    [{ hostName: "h", deviceId: "d" }, /provider.getToken is required/],
    [{ hostName: "h", deviceId: "d", getToken: "tok" }, /provider.getToken must be a function/],
    [null, /provider must be an object/],
  ]) {
    throwsCode(() => DeviceClient.fromTokenProvider(p), "INVALID_ARGUMENT", re, JSON.stringify(p));
  }
  // Options are type-checked the same way, naming the field.
  const cs = `HostName=h;DeviceId=d;SharedAccessKey=${KEY}`;
  for (const [o, re] of [
    ["fast", /options must be an object/],
    [{ keepAliveSeconds: -1 }, /options.keepAliveSeconds must be a number from 0 to 1177/],
    [{ retry: { jitter: 2 } }, /options.retry.jitter must be a number from 0 to 1/],
    [{ url: 42 }, /options.url must be a string/],
    [{ webSocketFactory: "ws" }, /options.webSocketFactory must be a function/],
    [{ cleanSession: "yes" }, /options.cleanSession must be a boolean/],
  ]) {
    throwsCode(() => DeviceClient.fromConnectionString(cs, o), "INVALID_ARGUMENT", re, JSON.stringify(o));
  }
});

test("empty_payloads_sent_succeeds", async () => {
  const d = await connected();
  try {
    await d.client.sendEvent("");
    await d.client.sendEvent(new Uint8Array(0));
    await d.client.sendEvent(new ArrayBuffer(0), { qos: 0 });
    await sleep(100);
    const items = await service.telemetry(d.deviceId);
    assert.deepEqual(items.map((i) => i.bodyBase64), ["", "", ""]);
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("oversized_payload_and_bad_qos_refused_connection_untouched_fails", async () => {
  const d = await connected();
  try {
    const c = d.client;
    const e = await rejectsCode(c.sendEvent(new Uint8Array(256 * 1024)), "PAYLOAD_TOO_LARGE");
    assert.equal(e.retryable, false);
    assert.match(e.message, /IoT Hub accepts at most 262144/);
    // The limit is topic + body: a body that fits alone can be too large with its properties.
    await rejectsCode(c.sendEvent(new Uint8Array(256 * 1024 - 40), { properties: { k: "v".repeat(64) } }), "PAYLOAD_TOO_LARGE");
    await rejectsCode(c.sendEvent("x", { qos: 2 }), "QOS_NOT_SUPPORTED");
    for (const qos of [3, "1", -1, null]) {
      if (qos === null) continue; // null means "the default"
      await rejectsCode(c.sendEvent("x", { qos }), "INVALID_ARGUMENT", `qos ${qos}`);
    }
    await c.sendEvent("after the refusals");
    assert.deepEqual(await bodies(d.deviceId), ["after the refusals"], "nothing refused was sent");
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("unserialisable_values_refused_nothing_sent_fails", async () => {
  const d = await connected();
  try {
    const c = d.client;
    const cycle = { name: "loop" };
    cycle.self = cycle;
    for (const [label, body] of [
      ["a cycle", cycle],
      ["a nested BigInt", { n: 1n }],
      ["a BigInt", 1n],
      ["undefined", undefined],
      ["a function", () => 1],
      ["a symbol", Symbol("s")],
      ["a throwing toJSON", { toJSON() { throw new Error("no JSON today"); } }],
    ]) {
      await rejectsCode(c.sendEvent(body), "INVALID_ARGUMENT", label);
    }
    const before = (await service.getTwin(d.deviceId)).properties.reported.$version;
    for (const [label, patch] of [
      ["a cycle", cycle],
      ["a nested BigInt", { n: 2n }],
      ["null", null],
      ["an array", [1]],
      ["a string", "{}"],
    ]) {
      await rejectsCode(c.updateReportedProperties(patch), "INVALID_ARGUMENT", `patch: ${label}`);
    }
    await c.sendEvent({ fine: true });
    assert.deepEqual(await bodies(d.deviceId), ['{"fine":true}']);
    assert.equal((await service.getTwin(d.deviceId)).properties.reported.$version, before, "no patch applied");
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("property_names_and_values_needing_encoding_round_trip_succeeds", async () => {
  const d = await connected();
  try {
    const properties = {
      "a b": "c d",
      "k&=/?#%+": "v&=/?#%+",
      "ünï©ødé": "✓ 温度 🌡",
      "$dollar": "$.not-system",
      "empty value": "",
    };
    await d.client.sendEvent("p", {
      properties,
      messageId: "id with spaces & = / ü",
      correlationId: "c%20id+1",
      contentType: "text/plain; charset=utf-8",
      userId: "user@example.com",
    });
    const [item] = await service.telemetry(d.deviceId);
    assert.deepEqual(item.properties, properties);
    assert.equal(item.systemProperties.messageId, "id with spaces & = / ü");
    assert.equal(item.systemProperties.correlationId, "c%20id+1");
    assert.equal(item.systemProperties.contentType, "text/plain; charset=utf-8");
    assert.equal(item.systemProperties.userId, "user@example.com");
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("reserved_or_mistyped_property_names_refused_fails", async () => {
  const d = await connected();
  try {
    const c = d.client;
    for (const [label, properties, code] of [
      ["an empty name", { "": "v" }, "INVALID_ARGUMENT"],
      ["$.ct (the hub's content type)", { "$.ct": "text/evil" }, "INVALID_ARGUMENT"],
      ["$.mid (the hub's message id)", [["$.mid", "spoof"]], "INVALID_ARGUMENT"],
      ["a number value", { n: 1 }, "INVALID_ARGUMENT"],
      ["a null value", { n: null }, "INVALID_ARGUMENT"],
      ["a pair that is not one", [["k"]], "INVALID_ARGUMENT"],
      ["a string", "k=v", "INVALID_ARGUMENT"],
    ]) {
      await rejectsCode(c.sendEvent("x", { properties }), code, label);
    }
    await rejectsCode(c.sendEvent("x", { messageId: 5 }), "INVALID_ARGUMENT", "messageId: a number");
    await rejectsCode(c.sendEvent("x", { expiry: new Date(NaN) }), "INVALID_ARGUMENT", "expiry: an invalid Date");
    await c.sendEvent("only this one");
    const items = await service.telemetry(d.deviceId);
    assert.deepEqual(items.map((i) => i.body), ["only this one"]);
    assert.equal(items[0].systemProperties.contentType, undefined, "no property became a system property");
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("method_handler_failures_answered_connection_untouched_fails", async () => {
  const d = await connected();
  try {
    const c = d.client;
    const cycle = {};
    cycle.self = cycle;
    c.onMethod("throws", () => {
      throw new Error("handler broke");
    });
    c.onMethod("rejects", async () => Promise.reject(new Error("handler rejected")));
    c.onMethod("cycle", () => ({ status: 200, payload: cycle }));
    c.onMethod("bigint", () => ({ status: 200, payload: { n: 1n } }));
    c.onMethod("badStatus", () => ({ status: "ok", payload: 1 }));
    c.onMethod("huge", () => ({ status: 200, payload: "x".repeat(128 * 1024) }));
    c.onMethod("fine", () => ({ status: 201, payload: { ok: true } }));
    throwsCode(() => c.onMethod("noHandler"), "INVALID_ARGUMENT", /onMethod/);
    throwsCode(() => c.onMethod(42, () => ({})), "INVALID_ARGUMENT", /onMethod/);
    await sleep(200); // the SUBSCRIBE round trip
    const call = async (name) => {
      const t = Date.now();
      const r = await service.invokeMethod(d.deviceId, name, null, 5);
      assert.ok(Date.now() - t < 3000, `${name}: answered after ${Date.now() - t} ms`);
      return r;
    };
    for (const [name, re] of [
      ["throws", /handler broke/],
      ["rejects", /handler rejected/],
      ["cycle", /circular/i],
      ["bigint", /BigInt/],
      ["badStatus", /invalid status/],
      ["huge", /over 128 KiB/],
    ]) {
      const r = await call(name);
      assert.equal(r.status, 500, name);
      assert.match(r.payload.message, re, name);
    }
    assert.deepEqual(d.events.error.map((e) => e.code), ["PAYLOAD_TOO_LARGE"], "the oversized answer is reported");
    assert.deepEqual(await call("unknown"), { status: 501, payload: { message: 'no handler for method "unknown"' } });
    assert.deepEqual(await call("fine"), { status: 201, payload: { ok: true } });
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("method_handler_never_settles_hub_times_out_client_unharmed_fails", async () => {
  // The device cannot know the caller's responseTimeoutInSeconds: the hub answers the caller
  // 504 when it runs out; the client forgets the call after 300 s (IoT Hub's longest
  // timeout; src/hub/tests/methods.rs checks that on a fake clock).
  const d = await connected();
  try {
    let calls = 0;
    d.client.onMethod("hang", () => {
      calls++;
      return new Promise(() => {});
    });
    d.client.onMethod("ping", () => ({ status: 200, payload: "pong" }));
    await sleep(200);
    const t = Date.now();
    const hung = service.invokeMethod(d.deviceId, "hang", null, 5).then(
      () => assert.fail("answered"),
      (e) => e,
    );
    await sleep(500);
    // Meanwhile other calls and telemetry work.
    assert.deepEqual(await service.invokeMethod(d.deviceId, "ping", null, 5), { status: 200, payload: "pong" });
    await d.client.sendEvent("during the hung call");
    const e = await hung;
    const took = Date.now() - t;
    assert.equal(e.status, 504);
    assert.equal(e.body.ErrorCode, "GatewayTimeout");
    assert.ok(took >= 4500 && took < 8000, `the caller waited ${took} ms for a 5 s timeout`);
    assert.equal(calls, 1);
    assert.deepEqual(await service.invokeMethod(d.deviceId, "ping", null, 5), { status: 200, payload: "pong" });
    assert.deepEqual(d.events.error, []);
    untouched(d);
  } finally {
    d.client.close();
  }
});

test("calls_after_close_refused_closed_fails", async () => {
  const d = await device({ offlineQueue: { maxMessages: 10 } });
  const c = d.client;
  await c.connect();
  // Pending work at close() is settled with CLOSED, not left hanging.
  await service.fault(d.deviceId, { kind: "withholdPuback", count: 1 });
  const inFlight = c.sendEvent("in flight at close");
  await sleep(100); // the hub has it and keeps its PUBACK
  const twin = c.getTwin(); // not even written yet
  c.close();
  await rejectsCode(inFlight, "CLOSED", "in flight");
  await rejectsCode(twin, "CLOSED", "twin");
  assert.equal(c.state, "closed");
  await rejectsCode(c.connect(), "CLOSED", "connect");
  await rejectsCode(c.disconnect(), "CLOSED", "disconnect");
  await rejectsCode(c.sendEvent("late"), "CLOSED", "sendEvent");
  await rejectsCode(c.getTwin(), "CLOSED", "getTwin");
  await rejectsCode(c.updateReportedProperties({ a: 1 }), "CLOSED", "updateReportedProperties");
  for (const [label, f] of [
    ["on", () => c.on("connected", () => {})],
    ["onMessage", () => c.onMessage(() => {})],
    ["onDesiredPropertiesUpdate", () => c.onDesiredPropertiesUpdate(() => {})],
    ["onMethod", () => c.onMethod("m", () => ({}))],
  ]) {
    throwsCode(f, "CLOSED", /closed/, label);
  }
  c.off("connected", () => {}); // harmless
  c.close(); // idempotent
  c.free();
  assert.equal(c.state, "closed");
  // The hub sees the socket end a moment later (a loaded machine: up to seconds).
  let conn;
  for (const end = Date.now() + 5000; (conn = await service.connection(d.deviceId)).connected && Date.now() < end; ) await sleep(50);
  assert.equal(conn.connected, false, "close() ended the connection");
});

test("send_event_with_full_offline_queue_refused_fails", async () => {
  const d = await device({ offlineQueue: { maxMessages: 2, maxBytes: 100000 } });
  const c = d.client;
  try {
    // Not connected yet: sends queue, bounded by count ...
    const queued = [c.sendEvent("q1"), c.sendEvent("q2")];
    const full = await rejectsCode(c.sendEvent("q3"), "QUEUE_FULL");
    assert.equal(full.retryable, true);
    assert.match(full.message, /offline queue is full \(2 messages/);
    await c.connect();
    await Promise.all(queued);
    assert.deepEqual(await bodies(d.deviceId), ["q1", "q2"], "the accepted ones, once, in order");
  } finally {
    c.close();
  }
  // ... and by bytes (topic + body).
  const b = await device({ offlineQueue: { maxMessages: 100, maxBytes: 2000 } });
  try {
    const first = b.client.sendEvent(new Uint8Array(1500));
    await rejectsCode(b.client.sendEvent(new Uint8Array(1500)), "QUEUE_FULL", "bytes");
    await b.client.connect();
    await first;
    assert.equal((await service.telemetry(b.deviceId)).length, 1);
  } finally {
    b.client.close();
  }
});

test("token_provider_garbage_refused_fails", async () => {
  const deviceId = `bad-${rand()}`;
  await service.createDevice(deviceId);
  const attempt = async (getToken, expected, opts = {}) => {
    let sockets = 0;
    const c = DeviceClient.fromTokenProvider(
      { hostName: service.hostName, deviceId, getToken },
      {
        url: emu.wsUrl,
        connectTimeoutMs: 1500,
        webSocketFactory: (url, protocols) => {
          sockets++;
          return new WebSocket(url, protocols);
        },
        ...opts,
      },
    );
    const errors = [];
    c.on("error", (e) => errors.push(e.code));
    try {
      const e = await rejectsCode(c.connect(), expected, String(getToken));
      assert.deepEqual(errors, [expected], "one error event");
      assert.equal(c.state, "disconnected", "stopped, not retrying");
      return { e, sockets };
    } finally {
      c.close();
    }
  };
  for (const v of [42, undefined, null, {}]) {
    const { e, sockets } = await attempt(async () => v, "INVALID_ARGUMENT");
    assert.match(e.message, /getToken must resolve to a SAS token string/);
    assert.equal(sockets, 0, `${JSON.stringify(v)}: refused before any socket was opened`);
  }
  // A string is the password as given (a broker behind `url` may take tokens hubwire
  // cannot read): the hub refuses it once, and the client stops.
  for (const v of ["", "garbage", "SharedAccessSignature sr=a&sig=b"]) {
    const { e, sockets } = await attempt(async () => v, "UNAUTHORIZED");
    assert.match(e.message, /CONNACK/);
    assert.equal(sockets, 1, `${JSON.stringify(v)}: one attempt`);
  }
  const thrown = await attempt(() => {
    throw new Error("vault down");
  }, "UNAUTHORIZED");
  assert.match(thrown.e.message, /getToken failed: vault down/);
  assert.equal(thrown.sockets, 0);
  await attempt(() => Promise.reject(new Error("no")), "UNAUTHORIZED");
  // So is a well-formed token with a wrong signature, long expired.
  const refused = await attempt(async () => "SharedAccessSignature sr=x&sig=y&se=1", "UNAUTHORIZED");
  assert.equal(refused.sockets, 1);
  // A provider that never answers: connect() gives up at connectTimeoutMs.
  const t = Date.now();
  await attempt(() => new Promise(() => {}), "TIMEOUT");
  assert.ok(Date.now() - t < 5000);
});
