// A small WebSocket client for Node (RFC 6455, client side, binary and text
// frames, ping/pong, close), shaped like the WHATWG WebSocket that hubwire's
// `webSocketFactory` takes. The fleet uses it instead of Node's global
// WebSocket because it holds a connection in a fraction of the memory
// (docs/fleet.md, "Memory": with Node 22's built-in WebSocket a device costs
// ~60 KiB of RSS, with this ~20 KiB). No dependencies: node:net, node:tls, node:crypto.

import { createHash, randomFillSync } from "node:crypto";
import { connect as netConnect, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HANDSHAKE = 16 * 1024;
/** Largest message accepted from the server (hubwire's own limit is far below). */
const MAX_MESSAGE = 64 * 1024 * 1024;

// Masking keys come from one pool of random bytes, refilled when used up.
const pool = Buffer.alloc(8192);
let poolAt = pool.length;
function maskKey() {
  if (poolAt + 4 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 4;
  return pool.subarray(poolAt - 4, poolAt);
}

/** One client frame: FIN set, masked. */
export function encodeFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const key = maskKey();
  key.copy(out, head);
  const at = head + 4;
  for (let i = 0; i < len; i++) out[at + i] = payload[i] ^ key[i & 3];
  return out;
}

export class NodeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  /**
   * @param {string} url ws:// or wss://
   * @param {string|string[]} [protocols]
   * @param {{ tls?: object }} [opts] extra node:tls options for wss://
   */
  constructor(url, protocols = [], opts = {}) {
    const u = new URL(url);
    if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new SyntaxError(`not a WebSocket URL: ${url}`);
    this.url = url;
    this.readyState = 0;
    this.binaryType = "arraybuffer";
    this.protocol = "";
    this.listeners = null;
    this.buf = null;
    this.frags = null;
    this.fragOp = 0;
    this.handshaken = false;
    this.closeSent = false;
    this.closeCode = 1006;
    this.closeReason = "";
    this.wanted = typeof protocols === "string" ? [protocols] : protocols;
    this.key = randomFillSync(Buffer.alloc(16)).toString("base64");
    const tls = u.protocol === "wss:";
    const host = u.hostname.replace(/^\[|\]$/g, "");
    const port = Number(u.port) || (tls ? 443 : 80);
    const sock = tls
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], ...opts.tls })
      : netConnect({ host, port });
    this.sock = sock;
    sock.setNoDelay(true);
    const path = `${u.pathname || "/"}${u.search}`;
    const hostHeader = u.port ? `${u.hostname}:${u.port}` : u.hostname;
    const req =
      `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n` +
      (this.wanted.length ? `Sec-WebSocket-Protocol: ${this.wanted.join(", ")}\r\n` : "") +
      "\r\n";
    sock.once(tls ? "secureConnect" : "connect", () => sock.write(req));
    sock.on("data", (d) => this.onData(d));
    sock.on("error", (e) => {
      this.error = e;
    });
    sock.on("close", () => this.onClose());
  }

  addEventListener(type, fn) {
    const l = (this.listeners ??= {});
    (l[type] ??= []).push(fn);
  }

  removeEventListener(type, fn) {
    const list = this.listeners && this.listeners[type];
    if (!list) return;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  }

  emit(type, ev) {
    const list = this.listeners && this.listeners[type];
    if (!list || !list.length) return;
    for (const fn of list.length === 1 ? list : [...list]) fn(ev);
  }

  send(data) {
    if (this.readyState !== 1) {
      if (this.readyState === 0) throw new Error("InvalidStateError: the WebSocket is still connecting");
      return;
    }
    let frame;
    if (typeof data === "string") frame = encodeFrame(0x1, Buffer.from(data));
    else if (data instanceof ArrayBuffer) frame = encodeFrame(0x2, new Uint8Array(data));
    else frame = encodeFrame(0x2, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.sock.write(frame);
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    if (this.readyState === 0) {
      this.readyState = 2;
      this.sock.destroy();
      return;
    }
    this.readyState = 2;
    this.sendClose(code, reason);
    // The server answers with its own close frame and closes the TCP connection.
    this.closeTimer = setTimeout(() => this.sock.destroy(), 2000);
    this.closeTimer.unref?.();
  }

  sendClose(code, reason) {
    if (this.closeSent) return;
    this.closeSent = true;
    const r = Buffer.from(String(reason)).subarray(0, 123);
    const p = Buffer.allocUnsafe(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.sock.write(encodeFrame(0x8, p));
  }

  fail(why) {
    this.error = new Error(why);
    this.sock.destroy();
  }

  onData(chunk) {
    let d = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = null;
    if (!this.handshaken) {
      const end = d.indexOf("\r\n\r\n");
      if (end < 0) {
        if (d.length > MAX_HANDSHAKE) return this.fail("handshake response too large");
        this.buf = Buffer.from(d);
        return;
      }
      if (!this.checkHandshake(d.subarray(0, end).toString("latin1"))) return;
      this.handshaken = true;
      this.readyState = 1;
      this.emit("open", { type: "open" });
      d = d.subarray(end + 4);
    }
    let at = 0;
    while (this.readyState !== 3 && d.length - at >= 2) {
      const b0 = d[at];
      const b1 = d[at + 1];
      if (b1 & 0x80) return this.fail("the server masked a frame");
      if (b0 & 0x70) return this.fail("reserved bits set");
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (d.length - at < 4) break;
        len = d.readUInt16BE(at + 2);
        head = 4;
      } else if (len === 127) {
        if (d.length - at < 10) break;
        len = d.readUInt32BE(at + 2) * 2 ** 32 + d.readUInt32BE(at + 6);
        head = 10;
      }
      if (len > MAX_MESSAGE) return this.fail("frame too large");
      if (d.length - at < head + len) break;
      const payload = d.subarray(at + head, at + head + len);
      at += head + len;
      this.onFrame(b0 & 0x80, b0 & 0x0f, payload);
    }
    // Keep a partial frame as its own copy, not a view pinning the whole read buffer.
    if (at < d.length && this.readyState !== 3) this.buf = Buffer.from(d.subarray(at));
  }

  onFrame(fin, op, payload) {
    if (op >= 0x8) {
      if (op === 0x8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.length > 2 ? payload.subarray(2).toString() : "";
        this.readyState = 2;
        this.sendClose(this.closeCode === 1005 ? 1000 : this.closeCode, "");
        this.sock.end();
      } else if (op === 0x9) {
        if (this.readyState === 1) this.sock.write(encodeFrame(0xa, payload));
      }
      return;
    }
    if (op !== 0) {
      if (this.frags) return this.fail("a new message inside a fragmented one");
      if (fin) return this.deliver(op, payload);
      this.fragOp = op;
      this.frags = [Buffer.from(payload)];
      return;
    }
    if (!this.frags) return this.fail("a continuation frame with nothing to continue");
    this.frags.push(Buffer.from(payload));
    if (fin) {
      const all = Buffer.concat(this.frags);
      this.frags = null;
      this.deliver(this.fragOp, all);
    }
  }

  deliver(op, payload) {
    // hubwire copies the bytes out at once, so a view into the read buffer is safe.
    this.emit("message", { type: "message", data: op === 0x1 ? payload.toString() : payload });
  }

  checkHandshake(head) {
    const lines = head.split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(lines[0])) {
      this.fail(`the server refused the WebSocket upgrade: ${lines[0]}`);
      return false;
    }
    const h = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const accept = createHash("sha1").update(this.key + GUID).digest("base64");
    if (h["sec-websocket-accept"] !== accept) {
      this.fail("bad Sec-WebSocket-Accept");
      return false;
    }
    const proto = h["sec-websocket-protocol"] || "";
    if (this.wanted.length && !this.wanted.includes(proto)) {
      this.fail(`the server chose no requested subprotocol (${this.wanted.join(", ")})`);
      return false;
    }
    this.protocol = proto;
    return true;
  }

  onClose() {
    clearTimeout(this.closeTimer);
    const was = this.readyState;
    this.readyState = 3;
    this.buf = null;
    this.frags = null;
    if (was === 0 || (this.error && !this.closeSent)) this.emit("error", { type: "error", error: this.error, message: this.error ? this.error.message : "connection failed" });
    this.emit("close", { type: "close", code: this.closeSent || was === 2 ? this.closeCode : 1006, reason: this.closeReason, wasClean: this.closeSent });
    this.listeners = null;
  }
}

/** A hubwire `webSocketFactory` that uses NodeWebSocket. */
export function nodeWebSocketFactory(tlsOptions) {
  return (url, protocols) => new NodeWebSocket(url, protocols, tlsOptions ? { tls: tlsOptions } : {});
}
