// The fleet's node:net WebSocket client against a WebSocket server nobody here
// wrote (`ws`): handshake and subprotocol, every length encoding, fragments,
// ping/pong, closes from either side, refused upgrades.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { WebSocketServer } from "ws";
import { encodeFrame, NodeWebSocket } from "../../packaging/fleet/ws-node.js";

let wss;
let url;
const serverSide = [];

before(async () => {
  wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (ps) => (ps.has("mqtt") ? "mqtt" : false) });
  await new Promise((r) => wss.once("listening", r));
  url = `ws://127.0.0.1:${wss.address().port}/$iothub/websocket?x=1`;
  wss.on("connection", (sock, req) => {
    serverSide.push({ sock, req });
    sock.on("message", (data, isBinary) => {
      if (!isBinary) return sock.send(`text:${data}`);
      if (data[0] === 0xff) {
        // Asked for a fragmented message: three frames.
        sock.send(Buffer.from([1, 2]), { fin: false, binary: true });
        sock.send(Buffer.from([3]), { fin: false, binary: true });
        return sock.send(Buffer.from([4, 5]), { fin: true, binary: true });
      }
      sock.send(data, { binary: true });
    });
  });
});

after(() => wss.close());

function open(u = url, protocols = ["mqtt"]) {
  const ws = new NodeWebSocket(u, protocols);
  const events = [];
  for (const t of ["open", "message", "close", "error"]) ws.addEventListener(t, (e) => events.push(e));
  const until = (pred, what) =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = () => {
        const hit = events.find(pred);
        if (hit) return resolve(hit);
        if (Date.now() - t0 > 5000) return reject(new Error(`timed out waiting for ${what}: ${events.map((e) => e.type).join(",")}`));
        setTimeout(poll, 5);
      };
      poll();
    });
  return { ws, events, until };
}

test("ws_node_handshake_subprotocol_and_echo_every_length_succeeds", async () => {
  const { ws, events, until } = open();
  assert.equal(ws.readyState, 0);
  await until((e) => e.type === "open", "open");
  assert.equal(ws.readyState, 1);
  assert.equal(ws.protocol, "mqtt");
  assert.equal(serverSide.at(-1).req.url, "/$iothub/websocket?x=1");
  for (const n of [0, 1, 125, 126, 65535, 65536, 70000]) {
    const payload = new Uint8Array(n).map((_, i) => (i * 7) & 0xff);
    const before = events.length;
    ws.send(payload.buffer);
    const m = await until((e, i) => i >= before && e.type === "message", `echo of ${n} bytes`);
    assert.ok(m.data instanceof Uint8Array);
    assert.deepEqual(new Uint8Array(m.data), payload, `${n} bytes round trip`);
  }
  const before2 = events.length;
  ws.send(new Uint8Array([9, 8, 7]).subarray(1));
  const view = await until((e, i) => i >= before2 && e.type === "message", "echo of a view");
  assert.deepEqual([...view.data], [8, 7], "a typed-array view sends only its bytes");
  ws.send("hi");
  const text = await until((e) => e.type === "message" && typeof e.data === "string", "text echo");
  assert.equal(text.data, "text:hi");
  ws.close();
  const c = await until((e) => e.type === "close", "close");
  assert.equal(c.code, 1000);
  assert.equal(c.wasClean, true);
  assert.equal(ws.readyState, 3);
});

test("ws_node_fragmented_message_and_ping_succeeds", async () => {
  const { ws, until } = open();
  await until((e) => e.type === "open", "open");
  const srv = serverSide.at(-1).sock;
  const pong = new Promise((r) => srv.once("pong", (d) => r(d)));
  srv.ping(Buffer.from("are you there"));
  assert.equal((await pong).toString(), "are you there", "ping answered with the same payload");
  ws.send(new Uint8Array([0xff]));
  const m = await until((e) => e.type === "message", "reassembled message");
  assert.deepEqual([...m.data], [1, 2, 3, 4, 5]);
  ws.close(4001, "done");
  await until((e) => e.type === "close", "close");
});

test("ws_node_server_close_reports_code_succeeds", async () => {
  const { until } = open();
  await until((e) => e.type === "open", "open");
  serverSide.at(-1).sock.close(4000, "bye");
  const c = await until((e) => e.type === "close", "close");
  assert.equal(c.code, 4000);
  assert.equal(c.reason, "bye");
});

test("ws_node_server_drop_is_1006_succeeds", async () => {
  const { events, until } = open();
  await until((e) => e.type === "open", "open");
  serverSide.at(-1).sock.terminate();
  const c = await until((e) => e.type === "close", "close");
  assert.equal(c.code, 1006);
  assert.equal(c.wasClean, false);
  assert.equal(events.filter((e) => e.type === "close").length, 1);
});

test("ws_node_refused_upgrade_and_missing_subprotocol_fail", async () => {
  const http = createServer((_, res) => res.writeHead(400).end("no"));
  http.on("upgrade", (_req, sock) => sock.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"));
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  try {
    const refused = open(`ws://127.0.0.1:${http.address().port}/x`);
    const err = await refused.until((e) => e.type === "error", "error");
    assert.match(err.message, /403/);
    await refused.until((e) => e.type === "close", "close");
    assert.equal(refused.events.some((e) => e.type === "open"), false);
  } finally {
    http.close();
  }
  const noProto = open(url, ["not-mqtt"]);
  const err = await noProto.until((e) => e.type === "error", "error");
  assert.match(err.message, /subprotocol/);
  const nothing = open("ws://127.0.0.1:1/");
  await nothing.until((e) => e.type === "error", "connection refused");
  const c = await nothing.until((e) => e.type === "close", "close");
  assert.equal(c.code, 1006);
  assert.throws(() => new NodeWebSocket("http://x/"), SyntaxError);
});

test("ws_node_send_before_open_throws_and_frames_are_masked_succeeds", async () => {
  const { ws, until } = open();
  assert.throws(() => ws.send(new Uint8Array(1)), /still connecting/);
  await until((e) => e.type === "open", "open");
  ws.close();
  await until((e) => e.type === "close", "close");
  ws.send(new Uint8Array(1)); // after close: ignored, like the WHATWG WebSocket
  const f = encodeFrame(0x2, Buffer.from([1, 2, 3, 4, 5]));
  assert.equal(f[0], 0x82);
  assert.equal(f[1], 0x80 | 5);
  const key = f.subarray(2, 6);
  assert.deepEqual([...f.subarray(6)].map((b, i) => b ^ key[i & 3]), [1, 2, 3, 4, 5]);
});
