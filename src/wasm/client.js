// The JS half of hubwire's wasm shell (docs/shell.md): the `DeviceClient`
// object apps hold. It moves bytes, timers and Promises between the host and
// the core — a `Core` exported by the wasm, which is the sans-IO `hub::Client`
// — and turns the core's events into JS values. It decides nothing: when to
// connect, retry, stop, renew a token, what a failure means and what to send
// are the core's decisions (src/hub/client/). Written in JS because every Rust
// closure, import and `JsValue` conversion costs wasm bytes (docs/size.md).
//
// After every input (an API call, a socket event, the timer, a settled
// Promise) `#drive()` drains the core: events, then the bytes to send, then
// the next deadline. API calls that queue packets leave the bytes in the core
// and post one flush per task (queueMicrotask), so N `sendEvent` calls in one
// task go out as one WebSocket message.

const live = new Set(); // clients, for panic reports
const enc = new TextEncoder();

export function hwError(code, message, retryable, status) {
  const e = new Error(message);
  e.name = "HubwireError";
  e.code = code;
  e.retryable = retryable;
  if (status !== undefined) e.status = status;
  return e;
}

const invalid = (m) => hwError("INVALID_ARGUMENT", m, false);
const closedError = () => hwError("CLOSED", "the client was closed", false);
export const messageOf = (e) => {
  try { return e instanceof Error ? e.message : String(e); } catch (_) { return "?"; }
};

/** A panic inside the wasm: logged, and an INTERNAL error on every live client. */
export function hwPanicked(m) {
  console.error(m);
  const e = hwError("INTERNAL", m, false);
  for (const c of live) c._emit("error", e);
}

export class C2dMessage {
  constructor(body) { this.body = body; this.properties = {}; }
  text() { return new TextDecoder().decode(this.body); }
  json() { return JSON.parse(this.text()); }
}

// ------------------------------------------------------------ options

// [path, type, min, max]: numbers are whole (the fraction dropped) unless max is 1.
const NUMBERS = [
  ["keepAliveSeconds", 0, 1177], // IoT Hub's maximum (docs/hub.md)
  ["cleanSession", "b"],
  ["tokenTtlSeconds", 1, 4294967295],
  ["retry.minDelayMs", 0, 4294967295],
  ["retry.maxDelayMs", 0, 4294967295],
  ["retry.jitter", 0, 1],
  ["offlineQueue.maxMessages", 0, 4294967295],
  ["offlineQueue.maxBytes", 0, 4294967295],
  ["operationTimeoutMs", 1, 4294967295],
  ["coalesce", "b"],
  ["connectTimeoutMs", 1, 4294967295],
  ["allowInsecure", "b"],
  ["tokenRenewalMarginSeconds", 0, 4294967295],
  ["ackTimeoutMs", 0, 4294967295],
];

function field(o, path) {
  let v = o;
  if (path.includes(".")) for (const k of path.split(".")) v = v == null ? undefined : v[k];
  else v = o[path];
  return v == null ? undefined : v;
}

function need(ok, path, what) {
  if (!ok) throw invalid(`${path} must be ${what}`);
}

function str(o, key, path = "options." + key) {
  const v = field(o, key);
  need(v === undefined || typeof v === "string", path, "a string");
  return v;
}

function fn(o, key, path) {
  const v = field(o, key);
  need(v === undefined || typeof v === "function", path, "a function");
  return v;
}

/** `ClientOptions` → the core's numeric settings (NaN: the core's default) and the rest. */
function readOptions(o) {
  need(o == null || typeof o === "object", "options", "an object");
  o = o || {};
  const nums = new Float64Array(NUMBERS.length).fill(NaN);
  NUMBERS.forEach(([key, min, max], i) => {
    const v = field(o, key), path = "options." + key;
    if (v === undefined) return;
    if (min === "b") {
      need(typeof v === "boolean", path, "a boolean");
      nums[i] = v ? 1 : 0;
    } else {
      need(typeof v === "number" && v >= min && v <= max, path, `a number from ${min} to ${max}`);
      nums[i] = max === 1 ? v : Math.trunc(v);
    }
  });
  // The will is a message (`body` and `sendEvent`'s options), in Core.send's arguments.
  let will = field(o, "will");
  if (will !== undefined) {
    need(typeof will === "object" && will.body !== undefined, "options.will", "an object with a body");
    try { will = telemetry(will.body, will); } catch (e) { throw invalid("options.will: " + e.message); }
  }
  return {
    nums,
    will,
    url: str(o, "url"),
    modelId: str(o, "modelId"),
    productInfo: str(o, "productInfo"),
    factory: fn(o, "webSocketFactory", "options.webSocketFactory"),
  };
}

// ------------------------------------------------------------ messages

function bytesOf(body) {
  if (typeof body === "string") return [enc.encode(body), false];
  if (body instanceof Uint8Array) return [body, false];
  if (body instanceof ArrayBuffer) return [new Uint8Array(body), false];
  if (ArrayBuffer.isView(body)) return [new Uint8Array(body.buffer, body.byteOffset, body.byteLength), false];
  const t = typeof body;
  if (body === undefined || t === "function" || t === "symbol" || t === "bigint") {
    throw invalid("body must be a string, a Uint8Array or a JSON value");
  }
  return [enc.encode(stringify(body)), true];
}

function stringify(v) {
  let s;
  try { s = JSON.stringify(v); } catch (e) { throw invalid(messageOf(e)); }
  if (typeof s !== "string") throw invalid("value is not JSON-serialisable");
  return s;
}

const parse = (s) => { try { return JSON.parse(s); } catch (_) { return s; } };

function properties(p) {
  const pairs = Array.isArray(p) ? p : typeof p === "object" ? Object.entries(p) : null;
  need(pairs, "options.properties", "an object or an array of [key, value] pairs");
  const out = [];
  for (const kv of pairs) {
    need(kv && typeof kv[0] === "string" && typeof kv[1] === "string", "options.properties", "string keys with string values");
    out.push(kv[0], kv[1]);
  }
  return out;
}

const SYSTEM = ["messageId", "correlationId", "contentType", "contentEncoding", "userId", "component"];

/** A `Date` (as ISO 8601) or a string option. */
function time(o, key) {
  const v = field(o, key);
  if (v === undefined || typeof v === "string") return v;
  need(v instanceof Date && isFinite(v.getTime()), "options." + key, "a Date or a string");
  return v.toISOString();
}

const NONE = [];
const JSON_SYSTEM = [0b1100, ["application/json", "utf-8"]];

/** `sendEvent(body, options)` → the core's arguments. */
function telemetry(body, o) {
  const [bytes, json] = bytesOf(body);
  // The common case, no options: no allocation beyond the body.
  if (o == null) return json ? [bytes, 1, JSON_SYSTEM[0], JSON_SYSTEM[1]] : [bytes, 1, 0, NONE];
  need(typeof o === "object", "options", "an object");
  const sys = SYSTEM.map((k) => str(o, k));
  if (json) {
    sys[2] ??= "application/json";
    sys[3] ??= "utf-8";
  }
  sys.push(time(o, "expiry"), str(o, "to"), time(o, "creationTime"), str(o, "outputName"));
  const props = o.properties == null ? [] : properties(o.properties);
  const qos = field(o, "qos") ?? 1;
  need(qos === 0 || qos === 1 || qos === 2, "options.qos", "0 or 1");
  // The core's `send(now, body, qos, present, strs)`: set system properties flagged in `present`.
  let present = 0;
  const strs = [];
  sys.forEach((v, i) => {
    if (v !== undefined) {
      present |= 1 << i;
      strs.push(v);
    }
  });
  return [bytes, qos, present, strs.concat(props)];
}

// ------------------------------------------------------------ the client

const STATES = ["disconnected", "connecting", "connected", "reconnecting", "disconnected"];
const EVENTS = ["connected", "disconnected", "reconnecting", "error", "message", "desiredPropertiesUpdate"];
// Core event kinds (src/wasm/core.rs `Core::event`).
const OPEN = 1, CLOSE = 2, NEED_TOKEN = 3, CONNECTED = 4, CONNECT_FAILED = 5, DISCONNECTED = 6,
  RECONNECTING = 7, WARNING = 8, COMPLETED = 9, C2D = 10, DESIRED = 11, METHOD = 12, SUB_REFUSED = 13;
// Core.input kinds (src/wasm/core.rs).
const CONNECT = 0, DISCONNECT = 1, OPENED = 2, LOST = 3, TIMER = 4, ENABLE_C2D = 5, ENABLE_DESIRED = 6,
  ENABLE_METHODS = 7, TEXT_FRAME = 8, ONLINE = 9;
// Transport failure codes (hub::TransportError, src/wasm/core.rs).
const CREATE_FAILED = 0, NO_WEBSOCKET = 1, BAD_URL = 2, NOT_A_SOCKET = 3, REFUSED = 4;
const MAX_DELAY = 2147483647; // setTimeout's limit
const MAX_ROUNDS = 256; // safety valve per wake-up

/** Makes the object `DeviceClient.fromConnectionString/fromTokenProvider` return. */
export function hwClient(core, factory, getToken, flags, will) {
  if (will) {
    // Core.send with bit 15 of `present`: the last will (src/wasm/core.rs).
    try { core.send(0, will[0], will[1], will[2] | 0x8000, will[3]); } catch (e) { core.free(); throw e; }
  }
  return new DeviceClientImpl(core, factory, getToken, flags);
}

class DeviceClientImpl {
  #core; #getToken; #module; // a module identity: outputs and inputs
  #closed = false;
  #coalesce; // API calls share one WebSocket message per task
  #sock; #timer; #flushPosted = false;
  #listeners = {}; #methods = new Map(); #defaultMethod = null;
  #ops = new Map(); // op id -> [resolve, reject, kind]
  #waiters = []; // connect() [resolve, reject]
  #online; // the global `online` listener, if the runtime has one

  constructor(core, factory, getToken, flags) {
    this.#core = core;
    // Core::flags (src/wasm/core.rs): bit 0 coalesce, bit 1 a module identity.
    this.#coalesce = flags & 1;
    this.#module = flags & 2;
    this.#getToken = getToken;
    const input = (feed) => this.#input(feed);
    this.#sock = sock(factory, input);
    this.#timer = timer(() => input((c, now) => c.input(now, TIMER)));
    live.add(this);
    // The network came back (browsers, workers): the core retries now instead of at the end
    // of its backoff. (Like `live`, the listener holds the client until close().)
    if (globalThis.addEventListener) {
      try {
        globalThis.addEventListener("online", this.#online = () => this.#input((c, now) => c.input(now, ONLINE)));
      } catch (_) { /* a runtime without online events */ }
    }
  }

  /** "disconnected" | "connecting" | "connected" | "reconnecting" | "closed". */
  get state() {
    return this.#closed ? "closed" : STATES[this.#core.state()];
  }

  connect() {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#core.state() === 2) return Promise.resolve();
    const p = new Promise((res, rej) => this.#waiters.push([res, rej]));
    this.#core.input(Date.now(), CONNECT);
    this.#drive();
    return p;
  }

  disconnect() {
    if (this.#closed) return Promise.reject(closedError());
    this.#core.input(Date.now(), DISCONNECT);
    this.#drive();
    return Promise.resolve();
  }

  close() {
    if (this.#closed) return;
    const core = this.#core;
    core.input(Date.now(), DISCONNECT);
    let b;
    while ((b = core.transmit())) this.#sock.send(b);
    this.#closed = true;
    live.delete(this);
    if (this.#online) globalThis.removeEventListener("online", this.#online);
    this.#timer.clear();
    this.#sock.close();
    this.#sock.f = null;
    this.#listeners = {};
    this.#methods.clear();
    this.#defaultMethod = this.#getToken = null;
    const e = closedError();
    const pending = [...this.#ops.values(), ...this.#waiters];
    this.#ops.clear();
    this.#waiters = [];
    for (const p of pending) p[1](e);
    this.#core = null;
    core.free();
  }

  /** Same as `close()` (the name wasm-bindgen classes use; also `[Symbol.dispose]`). */
  free() { this.close(); }

  sendEvent(body, options) {
    return this.#op(0, () => this.#core.send(Date.now(), ...telemetry(body, options)));
  }

  /** A module's output event: `sendEvent` with `outputName` (`$.on`). */
  sendOutputEvent(outputName, body, options) {
    return this.#op(0, () => {
      this.#moduleName(outputName);
      need(options == null || typeof options === "object", "options", "an object");
      return this.#core.send(Date.now(), ...telemetry(body, { ...options, outputName }));
    });
  }

  /** `cb` gets the messages routed to this module's input `inputName` (they reach `message` too). */
  onInputMessage(inputName, cb) {
    this.#moduleName(inputName);
    this.on("message", (m) => m.inputName === inputName && cb(m));
  }

  /** Outputs and inputs are a module's (IoT Edge routes): a non-empty name on a module identity. */
  #moduleName(name) {
    need(this.#module && name && typeof name === "string", "an output or input name", "a non-empty string, on a module identity (ModuleId)");
  }

  getTwin() {
    return this.#op(1, () => this.#core.twin(Date.now(), undefined));
  }

  updateReportedProperties(patch) {
    return this.#op(2, () => {
      need(patch !== null && typeof patch === "object" && !Array.isArray(patch), "patch", "an object");
      return this.#core.twin(Date.now(), stringify(patch));
    });
  }

  onMessage(cb) { this.on("message", cb); }
  onDesiredPropertiesUpdate(cb) { this.on("desiredPropertiesUpdate", cb); }

  onMethod(nameOrHandler, handler) {
    this.#api(() => {
      const bad = () => invalid("onMethod(name, handler) or onMethod(handler)");
      if (typeof nameOrHandler === "string" && typeof handler === "function") {
        this.#methods.set(nameOrHandler, handler);
      } else if (typeof nameOrHandler === "function" && handler === undefined) {
        this.#defaultMethod = nameOrHandler;
      } else throw bad();
      this.#core.input(Date.now(), ENABLE_METHODS);
    });
  }

  on(event, cb) {
    this.#api(() => {
      if (!EVENTS.includes(event)) throw invalid(`unknown event "${event}"`);
      need(typeof cb === "function", "listener", "a function");
      (this.#listeners[event] ||= []).push(cb);
      const feature = event === "message" ? ENABLE_C2D : event === "desiredPropertiesUpdate" ? ENABLE_DESIRED : 0;
      if (feature) this.#core.input(Date.now(), feature);
    });
  }

  off(event, cb) {
    const l = this.#listeners[event] || [];
    const i = l.indexOf(cb);
    if (i >= 0) l.splice(i, 1);
  }

  // ---------------------------------------------------------- internals

  _emit(event, v, w) {
    for (const f of (this.#listeners[event] || []).slice()) {
      try { f(v, w); } catch (e) { console.error("hubwire: a listener threw:", e); }
    }
  }

  /** An API call that queues packets: run it, then flush once per task. */
  #api(f) {
    if (this.#closed) throw closedError();
    const r = f();
    this.#deferredDrive();
    return r;
  }

  #op(kind, start) {
    if (this.#closed) return Promise.reject(closedError());
    let id;
    try { id = start(); } catch (e) { return Promise.reject(e); }
    const p = new Promise((res, rej) => this.#ops.set(id, [res, rej, kind]));
    this.#deferredDrive();
    return p;
  }

  #deferredDrive() {
    if (!this.#coalesce) return this.#drive();
    // The whole drive (events too) waits for the flush: whatever the calls of this task
    // queued goes out in one message, and a QoS 0 send's Promise resolves after its
    // bytes were written.
    if (!this.#flushPosted) {
      this.#flushPosted = true;
      queueMicrotask(() => {
        this.#flushPosted = false;
        if (!this.#closed) this.#drive();
      });
    }
  }

  /** Drains the core: events, bytes, the next deadline; repeats while something happened. */
  #drive() {
    for (let round = 0; round < MAX_ROUNDS && !this.#closed; round++) {
      const core = this.#core;
      const actions = [];
      let k;
      while ((k = core.event())) {
        if (k < 0) {
          // Telemetry acknowledged (op -k): its Promise's resolve is the whole action.
          const op = this.#ops.get(-k);
          if (op) {
            this.#ops.delete(-k);
            actions.push(op[0]);
          }
          continue;
        }
        actions.push(this.#event(k));
      }
      const out = [];
      let b;
      while ((b = core.transmit())) out.push(b);
      this.#timer.set(core.nextTimeout());
      if (!out.length && !actions.length) return;
      // Bytes go to the socket current before this round's actions: the DISCONNECT
      // queued with a CloseTransport leaves before that socket closes.
      for (const b of out) this.#sock.send(b);
      for (const a of actions) if (a) a();
    }
  }

  /** One input from the host: feed the core, then drive. */
  #input(feed) {
    if (this.#closed) return;
    feed(this.#core, Date.now());
    this.#drive();
  }

  /** The current event, as something to do once the core is drained. */
  #event(k) {
    const c = this.#core;
    switch (k) {
      case OPEN: {
        const url = c.eventText(0);
        return () => this.#sock.open(url);
      }
      case CLOSE: return () => this.#sock.close();
      case NEED_TOKEN: {
        const expiry = c.eventNum(0), getToken = this.#getToken;
        return getToken && (() => call(getToken, expiry, (ok, v) => this.#input((core, now) => {
          if (!ok) core.token(now, 1, messageOf(v), 0);
          else if (typeof v !== "string") core.token(now, 2, undefined, 0);
          else core.token(now, 0, v, expiry);
        })));
      }
      case CONNECTED: {
        const w = this.#waiters.splice(0);
        return () => {
          for (const [res] of w) res();
          this._emit("connected");
        };
      }
      case CONNECT_FAILED: {
        const e = c.eventError(), w = this.#waiters.splice(0);
        return () => { for (const [, rej] of w) rej(e); };
      }
      case DISCONNECTED: {
        const e = c.eventError(), willRetry = c.eventNum(0) === 1;
        const ev = { reason: e.message, code: e.code, willRetry };
        return () => {
          this._emit("disconnected", ev);
          if (!willRetry && e.code !== "CLOSED") this._emit("error", e);
        };
      }
      case RECONNECTING: {
        const ev = { attempt: c.eventNum(0), delayMs: c.eventNum(1) };
        return () => this._emit("reconnecting", ev);
      }
      case WARNING: {
        const e = c.eventError();
        return () => this._emit("error", e);
      }
      case COMPLETED: {
        const id = c.eventNum(0), op = this.#ops.get(id);
        if (!op) return null;
        this.#ops.delete(id);
        const [res, rej, kind] = op;
        if (c.eventNum(1) !== 1) {
          const e = c.eventError();
          return () => rej(e);
        }
        const v = kind === 1 ? parse(c.eventText(0)) : kind === 2 ? c.eventNum(2) : undefined;
        return () => res(kind === 2 && v < 0 ? undefined : v);
      }
      case C2D: {
        const m = new C2dMessage(c.eventBytes());
        ["messageId", "correlationId", "to", "expiry", "contentType", "contentEncoding", "userId", "inputName",
          "connectionDeviceId", "connectionModuleId"]
          .forEach((name, i) => {
            const v = c.eventText(i);
            if (v !== undefined) m[name] = v;
          });
        for (let i = 100; ; i += 2) {
          const key = c.eventText(i);
          if (key === undefined) break;
          m.properties[key] = c.eventText(i + 1) ?? null;
        }
        return () => this._emit("message", m);
      }
      case DESIRED: {
        const patch = parse(c.eventText(0)), info = { full: c.eventNum(0) === 1, version: c.eventNum(1) };
        return () => this._emit("desiredPropertiesUpdate", patch, info);
      }
      case METHOD: {
        const [rid, name, component, command, payload] = [0, 1, 2, 3, 4].map((i) => c.eventText(i));
        const handler = this.#methods.get(name) || this.#defaultMethod;
        if (!handler) {
          return () => this.#respond(rid, 501, JSON.stringify({ message: `no handler for method "${name}"` }));
        }
        const req = { name, command, requestId: rid, payload: payload.trim() ? parse(payload) : null };
        if (component !== undefined) req.component = component;
        return () => call(handler, req, (ok, v) => {
          const [status, body] = methodResult(ok, v);
          this.#respond(rid, status, body);
        });
      }
      case SUB_REFUSED: {
        const e = hwError("SERVER_ERROR", `the hub refused the subscription ${c.eventText(0)}`, false);
        return () => this._emit("error", e);
      }
    }
    return null;
  }

  #respond(rid, status, body) {
    this.#input((core, now) => {
      try { core.respond(now, rid, status, body); } catch (e) { this._emit("error", e); }
    });
  }
}

if (typeof Symbol.dispose === "symbol") {
  DeviceClientImpl.prototype[Symbol.dispose] = DeviceClientImpl.prototype.free;
}

// ------------------------------------------------------------ helpers (provision.js uses them too)

/** Runs a user function; `done(ok, value)` gets its (awaited) outcome. */
export function call(f, arg, done) {
  let v;
  try { v = f(arg); } catch (e) { return done(false, e); }
  if (v && typeof v.then === "function") v.then((x) => done(true, x), (e) => done(false, e));
  else done(true, v);
}

/** The one timer of a core: `set(core.nextTimeout())` after every drive; `fire` when it is due. */
export function timer(fire) {
  let t, armed = -1;
  return {
    set(at) {
      // Re-arm only for an earlier deadline: a later one (the keep-alive moves with every
      // packet sent) waits for the armed timer, whose early call is harmless to the core.
      if (at < 0 ? armed >= 0 : armed < 0 || at < armed) {
        armed = at;
        clearTimeout(t);
        if (at >= 0) t = setTimeout(() => { armed = -1; fire(); }, Math.min(Math.max(at - Date.now(), 0), MAX_DELAY));
      }
    },
    clear: () => clearTimeout(t),
  };
}

/**
 * The WebSocket of a core (`Core` or `DpsCore`, which number their inputs alike): opened with
 * the factory `s.f` or the global `WebSocket`; what happens to it is fed to the core through
 * `input((core, now) => …)`. A newer `open` or a `close` makes an older socket stale.
 */
export function sock(factory, input) {
  let ws = null, h = null, gen = 0;
  const s = {
    f: factory,
    send(b) {
      try { if (ws) ws.send(b.buffer); } catch (_) { /* the close event follows */ }
    },
    close() {
      gen++;
      const w = ws, l = h;
      ws = h = null;
      if (!w) return;
      for (const k in l) try { w.removeEventListener(k, l[k]); } catch (_) { /* best effort */ }
      if (!(w.readyState >= 2)) try { w.close(1000, ""); } catch (_) { /* best effort */ }
    },
    open(url) {
      s.close();
      const g = gen;
      const fail = (code, e) => {
        if (g !== gen) return;
        const status = e && typeof e.status === "number" ? e.status : undefined;
        input((core, now) => core.transportFailed(now, code, status, e === undefined ? undefined : messageOf(e)));
      };
      const kindOf = (e) => (e && e.retryable === false ? REFUSED : CREATE_FAILED);
      const lost = () => input((core, now) => core.input(now, LOST));
      const attach = (w) => {
        if (g !== gen) {
          try { w.close(1000, ""); } catch (_) { /* stale */ }
          return;
        }
        if (!w || typeof w.addEventListener !== "function" || typeof w.send !== "function") return fail(NOT_A_SOCKET);
        try { w.binaryType = "arraybuffer"; } catch (_) { /* older workerd: always ArrayBuffer */ }
        const l = {
          open: () => input((core, now) => core.input(now, OPENED)),
          message: (e) => {
            const d = e.data;
            const b = d instanceof ArrayBuffer ? new Uint8Array(d)
              : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
            // A text frame: MQTT over WebSocket is binary only (MQTT 3.1.1 §6); the
            // core ends the connection as a protocol error and has us close it.
            input((core, now) => (b ? core.bytes(now, b) : core.input(now, TEXT_FRAME)));
          },
          close: lost,
          error: lost,
        };
        ws = w;
        h = l;
        try {
          for (const k in l) w.addEventListener(k, l[k]);
        } catch (e) {
          s.close();
          return fail(NOT_A_SOCKET, e);
        }
        if (w.readyState === 1) input((core, now) => core.input(now, OPENED));
      };
      let v;
      try {
        if (s.f) v = s.f(url, ["mqtt"]);
        else if (typeof globalThis.WebSocket !== "function") return fail(NO_WEBSOCKET);
        else v = new globalThis.WebSocket(url, ["mqtt"]);
      } catch (e) {
        return fail(e && e.name === "SyntaxError" ? BAD_URL : kindOf(e), e);
      }
      if (v && typeof v.then === "function") v.then(attach, (e) => fail(kindOf(e), e));
      else attach(v);
    },
  };
  return s;
}

/** A method handler's outcome as [status, JSON body]: `{status, payload}` as given (200
 * when absent); a throw, a rejection, a bad status or an unserialisable payload → 500. */
function methodResult(ok, v) {
  const failed = (m) => [500, JSON.stringify({ message: m })];
  if (!ok) return failed(messageOf(v));
  const status = v == null || v.status == null ? 200 : v.status;
  if (typeof status !== "number" || !(status >= 100 && status <= 999)) {
    return failed("method handler returned an invalid status");
  }
  if (v == null || v.payload === undefined) return [status | 0, undefined];
  try {
    const body = JSON.stringify(v.payload);
    return typeof body === "string" ? [status | 0, body] : failed("payload is not JSON-serialisable");
  } catch (e) {
    return failed(messageOf(e));
  }
}

/** `ClientOptions` read for `DeviceClient.from*`: [numbers, url, modelId, productInfo, factory, will]. */
export function hwReadOptions(o) {
  const r = readOptions(o);
  return [r.nums, r.url, r.modelId, r.productInfo, r.factory, r.will];
}

/** `provider` of `DeviceClient.fromTokenProvider`: [hostName, deviceId, moduleId, gatewayHostName, getToken]. */
export function hwReadProvider(p) {
  need(p !== null && typeof p === "object", "provider", "an object");
  const required = (k) => {
    const v = str(p, k, "provider." + k);
    if (v === undefined) throw invalid(`provider.${k} is required`);
    return v;
  };
  const getToken = fn(p, "getToken", "provider.getToken");
  if (!getToken) throw invalid("provider.getToken is required");
  return [required("hostName"), required("deviceId"), str(p, "moduleId", "provider.moduleId"),
    str(p, "gatewayHostName", "provider.gatewayHostName"), getToken];
}
