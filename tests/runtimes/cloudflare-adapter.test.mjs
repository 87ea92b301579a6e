// Unit tests of "hubwire/cloudflare" (packaging/entries/cloudflare.js) with a
// scripted fetch: what it asks for, what it hands hubwire, how it fails. The
// real thing against workerd and the emulator is workerd.test.mjs.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { webSocketFactory } from "../../packaging/entries/cloudflare.js";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function fakeAcceptedSocket() {
  const ws = { accepted: 0, sent: [], closed: [], listeners: [], readyState: 1, protocol: "", binaryType: "blob" };
  ws.accept = () => ws.accepted++;
  ws.send = (d) => ws.sent.push(d);
  ws.close = (code, reason) => ws.closed.push([code, reason]);
  ws.addEventListener = (t, f) => ws.listeners.push([t, f]);
  ws.removeEventListener = (t, f) => (ws.listeners = ws.listeners.filter(([a, b]) => a !== t || b !== f));
  return ws;
}

test("webSocketFactory_upgrade_accepted_succeeds", async () => {
  const raw = fakeAcceptedSocket();
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push([url, init]);
    return { status: 101, webSocket: raw, headers: new Headers({ "Sec-WebSocket-Protocol": "mqtt" }) };
  };
  const ws = await webSocketFactory("wss://hub.azure-devices.net:443/$iothub/websocket", ["mqtt"]);
  assert.equal(calls.length, 1);
  assert.equal(calls[0][0], "https://hub.azure-devices.net:443/$iothub/websocket");
  assert.equal(calls[0][1].headers.Upgrade, "websocket");
  assert.equal(calls[0][1].headers["Sec-WebSocket-Protocol"], "mqtt");
  assert.equal(raw.accepted, 1);
  assert.equal(ws.readyState, 1, "an accepted socket is open at once");
  assert.equal(ws.protocol, "mqtt", "negotiated protocol from the response header");
  assert.equal(raw.binaryType, "arraybuffer", "binary frames must arrive as ArrayBuffer");
  ws.binaryType = "arraybuffer";
  const bytes = new Uint8Array([0x10, 0]);
  ws.send(bytes);
  assert.equal(raw.sent[0], bytes);
  const f = () => {};
  ws.addEventListener("message", f);
  assert.deepEqual(raw.listeners, [["message", f]]);
  ws.removeEventListener("message", f);
  assert.deepEqual(raw.listeners, []);
  ws.close(1000, "bye");
  assert.deepEqual(raw.closed, [[1000, "bye"]]);
});

test("webSocketFactory_plain_ws_url_succeeds", async () => {
  let asked;
  globalThis.fetch = async (url) => {
    asked = url;
    return { status: 101, webSocket: fakeAcceptedSocket(), headers: new Headers() };
  };
  await webSocketFactory("ws://127.0.0.1:8080/$iothub/websocket", ["mqtt"]);
  assert.equal(asked, "http://127.0.0.1:8080/$iothub/websocket");
});

test("webSocketFactory_upgrade_refused_fails", async () => {
  globalThis.fetch = async () => ({ status: 400, webSocket: null, headers: new Headers() });
  await assert.rejects(webSocketFactory("wss://h/$iothub/websocket", ["mqtt"]), (e) => {
    assert.ok(e instanceof Error);
    assert.equal(e.code, "TRANSPORT");
    assert.equal(e.status, 400);
    assert.equal(e.retryable, false);
    assert.match(e.message, /HTTP 400/);
    return true;
  });
});

test("webSocketFactory_server_error_retryable_fails", async () => {
  globalThis.fetch = async () => ({ status: 503, webSocket: null, headers: new Headers() });
  await assert.rejects(webSocketFactory("wss://h/$iothub/websocket", ["mqtt"]), (e) => e.code === "TRANSPORT" && e.retryable === true && e.status === 503);
});

test("webSocketFactory_network_error_fails", async () => {
  globalThis.fetch = async () => {
    throw new TypeError("connection refused");
  };
  await assert.rejects(webSocketFactory("wss://h/$iothub/websocket", ["mqtt"]), (e) => e.code === "TRANSPORT" && e.retryable === true && /connection refused/.test(e.message));
});
