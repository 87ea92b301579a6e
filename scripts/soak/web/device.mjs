// The device side of the soak (scripts/soak.mjs): one hubwire DeviceClient sending
// QoS 1 telemetry with unique messageIds, receiving C2D messages and desired
// patches, reporting properties now and then. Runs unchanged in Node 22 and in a
// browser page (scripts/soak/web/index.html): it imports nothing, the runner passes
// the hubwire module in.

/** The SAS token in a CONNECT packet (the password is its last field), if any. */
export function connectToken(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 2 || u8[0] >> 4 !== 1) return null;
  let text = "";
  for (const b of u8) text += String.fromCharCode(b);
  const m = /SharedAccessSignature [A-Za-z0-9%&=._~+\-/]+/.exec(text);
  return m ? m[0] : null;
}

/** JSON merge patch restricted to objects (what a desired patch means); `$version` kept. */
function merge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v)) {
      if (typeof target[k] !== "object" || target[k] === null || Array.isArray(target[k])) target[k] = {};
      merge(target[k], v);
    } else target[k] = v;
  }
  return target;
}

/** Everything an error shows when printed: what the secret scan reads. */
function describe(e) {
  const parts = [String(e)];
  if (e && typeof e === "object") {
    for (const k of ["message", "code", "stack", "reason"]) if (e[k] !== undefined) parts.push(String(e[k]));
    try {
      parts.push(JSON.stringify(e));
    } catch {
      // cyclic: String() above is enough
    }
  }
  return parts.join(" | ");
}

export class SoakDevice {
  /**
   * @param hubwire   the hubwire module (DeviceClient)
   * @param opts      { connectionString, url, total, window, rate, retry, reportEveryMs }
   */
  constructor(hubwire, opts) {
    this.opts = { window: 200, rate: 100, reportEveryMs: 1500, ...opts };
    this.log = [];
    this.tokens = new Set();
    this.next = 0;
    this.outstanding = new Map(); // messageId -> attempts
    this.retryIds = [];
    this.acked = new Set();
    this.ackCount = 0;
    this.rejections = {};
    this.resends = 0;
    this.connected = 0;
    this.disconnects = {};
    this.errors = {};
    this.c2d = new Map(); // messageId -> deliveries
    this.desired = null;
    this.desiredEvents = 0;
    this.reported = { ok: 0, failed: {} };
    this.sockets = 0;
    this.startedAt = Date.now();
    this.timers = [];
    const factory = (url, protocols) => {
      const ws = new WebSocket(url, protocols);
      this.sockets++;
      const send = ws.send.bind(ws);
      let first = true;
      ws.send = (data) => {
        if (first) {
          first = false;
          const t = connectToken(data);
          if (t) this.tokens.add(t);
        }
        return send(data);
      };
      return ws;
    };
    this.client = hubwire.DeviceClient.fromConnectionString(opts.connectionString, {
      url: opts.url,
      retry: opts.retry,
      webSocketFactory: factory,
      connectTimeoutMs: 600000,
    });
    const c = this.client;
    c.on("connected", () => {
      this.connected++;
      this.note("connected");
    });
    c.on("disconnected", (e) => {
      this.disconnects[e.code] = (this.disconnects[e.code] || 0) + 1;
      this.note(`disconnected ${e.code} willRetry=${e.willRetry} ${e.reason}`);
    });
    c.on("reconnecting", (e) => this.note(`reconnecting attempt=${e.attempt} delayMs=${e.delayMs}`));
    c.on("error", (e) => {
      this.errors[e.code] = (this.errors[e.code] || 0) + 1;
      this.note(`error ${describe(e)}`);
    });
    c.onMessage((m) => {
      const id = m.messageId || `(none) ${m.text()}`;
      this.c2d.set(id, (this.c2d.get(id) || 0) + 1);
    });
    c.onDesiredPropertiesUpdate((patch) => {
      this.desiredEvents++;
      this.desired = merge(this.desired || {}, patch);
      this.desired.$version = patch.$version;
    });
  }

  note(line) {
    this.log.push(`${Date.now() - this.startedAt} ${line}`);
  }

  async start() {
    await this.client.connect();
    this.timers.push(setInterval(() => this.pump(), 20));
    this.timers.push(setInterval(() => this.report(), this.opts.reportEveryMs));
  }

  /** Sends what the rate allows now, keeping at most `window` sends unsettled. */
  pump() {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const allowed = Math.min(this.opts.total, Math.floor(elapsed * this.opts.rate) + 1);
    while (this.outstanding.size < this.opts.window && (this.retryIds.length || this.next < allowed)) {
      const id = this.retryIds.length ? this.retryIds.shift() : `m-${this.next++}`;
      this.send(id);
    }
  }

  send(id) {
    this.outstanding.set(id, (this.outstanding.get(id) || 0) + 1);
    let p;
    try {
      p = this.client.sendEvent({ id, t: Date.now() }, { messageId: id });
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => {
        this.outstanding.delete(id);
        this.ackCount++;
        this.acked.add(id);
      },
      (e) => {
        // Not accepted: the app keeps the message and sends it again (same messageId).
        this.outstanding.delete(id);
        this.rejections[e.code] = (this.rejections[e.code] || 0) + 1;
        this.note(`sendEvent ${id} rejected: ${describe(e)}`);
        this.resends++;
        this.retryIds.push(id);
      },
    );
  }

  report() {
    const n = this.reported.ok + Object.values(this.reported.failed).reduce((a, b) => a + b, 0);
    this.client.updateReportedProperties({ beat: n, at: Date.now() }).then(
      () => this.reported.ok++,
      (e) => {
        this.reported.failed[e.code] = (this.reported.failed[e.code] || 0) + 1;
        this.note(`updateReportedProperties rejected: ${describe(e)}`);
      },
    );
  }

  /** Stops the reported-property beat (the end phase must converge without new work). */
  quiet() {
    for (const t of this.timers.splice(1)) clearInterval(t);
  }

  stats() {
    return {
      total: this.opts.total,
      started: this.next,
      acked: this.acked.size,
      ackEvents: this.ackCount,
      pending: this.outstanding.size + this.retryIds.length,
      unsent: this.opts.total - this.next,
      rejections: this.rejections,
      resends: this.resends,
      connected: this.connected,
      reconnects: Math.max(0, this.connected - 1),
      disconnects: this.disconnects,
      errors: this.errors,
      state: this.client.state,
      c2d: Object.fromEntries(this.c2d),
      desired: this.desired,
      desiredEvents: this.desiredEvents,
      reported: this.reported,
      sockets: this.sockets,
    };
  }

  /** Log lines, error texts and `String(client)`: what the secret scan reads. */
  texts() {
    return [...this.log, String(this.client), describe(this.client)];
  }

  /** The SAS tokens the client sent in CONNECT packets. */
  tokensSeen() {
    return [...this.tokens];
  }

  close() {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.client.close();
  }
}
