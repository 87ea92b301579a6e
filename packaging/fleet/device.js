// One simulated device: a real hubwire DeviceClient with its own MQTT-over-
// WebSocket connection. It sends telemetry from the template on its own
// interval, answers direct methods (built-in `setTelemetryInterval` and
// `reboot`, plus the user's module), reports twin properties, applies desired
// `interval` patches, and counts what it receives. Counters live in the
// worker's `Stats`, shared by all its devices.

/** Interval bounds (seconds) for setTelemetryInterval and desired patches. */
export const MIN_INTERVAL = 0.01;
export const MAX_INTERVAL = 86400;

/** Reads an interval in seconds from a method payload or a desired value. */
export function intervalFrom(p) {
  let sec = NaN;
  if (typeof p === "number") sec = p;
  else if (typeof p === "string" && p.trim()) sec = Number(p);
  else if (p && typeof p === "object") {
    if (typeof p.interval === "number") sec = p.interval;
    else if (typeof p.intervalSeconds === "number") sec = p.intervalSeconds;
    else if (typeof p.intervalMs === "number") sec = p.intervalMs / 1000;
  }
  return sec >= MIN_INTERVAL && sec <= MAX_INTERVAL ? sec : null;
}

const BAD_INTERVAL = { status: 400, payload: { message: `expected an interval in seconds from ${MIN_INTERVAL} to ${MAX_INTERVAL}, e.g. {"interval": 5}` } };

export class SimDevice {
  /**
   * @param {import("./worker.js").WorkerFleet} w  the worker's fleet (stats, options, client class)
   * @param {{ id: string, index: number, connectionString: string }} spec
   * @param {import("./template.js").DeviceMessages} gen
   */
  constructor(w, spec, gen) {
    this.w = w;
    this.id = spec.id;
    this.index = spec.index;
    this.cs = spec.connectionString;
    this.gen = gen;
    this.state = "pending";
    this.client = null;
    this.timer = null;
    this.nextAt = 0;
    this.override = null; // seconds, set by setTelemetryInterval / desired interval
    this.sent = 0;
    this.settled = 0;
    this.everConnected = false;
    this.stopping = false;
    this.rebooting = false;
    this.done = false;
    this.drained = null;
  }

  setState(s) {
    if (this.state === s) return;
    this.w.stats.moveState(this.state, s);
    this.state = s;
  }

  /** The interval now in force for the next message, in seconds. */
  interval() {
    return this.override ?? this.gen.nextInterval();
  }

  /** Creates the client and connects; resolves when the first connect settles. */
  async start() {
    const w = this.w;
    const st = w.stats;
    let client;
    try {
      client = w.DeviceClient.fromConnectionString(this.cs, w.clientOptions);
    } catch (e) {
      st.error("connect", e);
      this.setState("failed");
      this.finish();
      return;
    }
    this.client = client;
    client.on("connected", () => {
      if (this.stopping) return;
      this.setState(this.rebooting ? "rebooting" : "connected");
      st.count("connects");
      if (!this.everConnected) {
        this.everConnected = true;
        this.begin();
      }
    });
    client.on("disconnected", (e) => {
      if (this.stopping || this.rebooting) return;
      st.count("disconnects");
      st.countCode("disconnectCodes", e.code);
      this.setState(e.willRetry ? "reconnecting" : "disconnected");
    });
    client.on("reconnecting", () => st.count("reconnects"));
    client.on("error", () => {});
    client.onMessage(() => st.count("c2d"));
    client.onDesiredPropertiesUpdate((patch) => this.desired(patch));
    client.onMethod("setTelemetryInterval", (req) => this.method(req, () => this.setTelemetryInterval(req.payload)));
    client.onMethod("reboot", (req) => this.method(req, () => this.reboot(req.payload)));
    for (const [name, fn] of w.handlers) {
      client.onMethod(name, (req) => this.method(req, () => fn(req, this.facade())));
    }
    client.onMethod((req) => {
      st.countCode("methods", `${req.name} (unknown)`);
      return { status: 501, payload: { message: `no handler for method ${JSON.stringify(req.name)}` } };
    });
    this.setState("connecting");
    await this.connect();
  }

  /** connect(), retried while the failure is retryable (the library backs off inside each call). */
  async connect() {
    const st = this.w.stats;
    for (;;) {
      const t0 = performance.now();
      st.count("connectAttempts");
      try {
        await this.client.connect();
        st.connectLatency.record(performance.now() - t0);
        return;
      } catch (e) {
        if (this.stopping) return;
        st.error("connect", e);
        if (!e || !e.retryable || e.code === "UNAUTHORIZED") {
          this.setState("failed");
          this.finish();
          return;
        }
      }
    }
  }

  /** First connection: report properties, then start the telemetry clock at a random phase. */
  begin() {
    const w = this.w;
    w.stats.count("firstConnects");
    if (w.reportTwin) {
      this.report({ interval: this.currentInterval(), fleet: { simulator: "hubwire fleet", index: this.index, shard: w.shardLabel, startedAt: new Date().toISOString() } });
    }
    const first = this.interval();
    this.nextAt = performance.now() + Math.random() * first * 1000;
    this.arm();
  }

  currentInterval() {
    return this.override ?? this.gen.baseInterval();
  }

  arm() {
    if (this.stopping || this.done) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.nextAt - performance.now()));
  }

  tick() {
    this.timer = null;
    if (this.stopping || this.rebooting) return;
    const w = this.w;
    if (w.maxMessages && this.sent >= w.maxMessages) return;
    this.send();
    if (w.maxMessages && this.sent >= w.maxMessages) return;
    // Drift-free: the next message is due one interval after this one was due.
    this.nextAt = Math.max(this.nextAt + this.interval() * 1000, performance.now() - 1000);
    this.arm();
  }

  send() {
    const st = this.w.stats;
    let m;
    try {
      m = this.gen.next(Date.now());
    } catch (e) {
      st.error("template", e);
      this.sent++;
      this.settle();
      return;
    }
    this.sendOne(m);
    if (m.duplicate) {
      st.count("duplicates");
      this.sendOne(m);
    }
  }

  sendOne(m) {
    const st = this.w.stats;
    this.sent++;
    st.sent++;
    const t0 = performance.now();
    this.client.sendEvent(m.body, m.options).then(
      () => {
        st.acked++;
        st.latency.record(performance.now() - t0);
        this.settle();
      },
      (e) => {
        st.error("send", e);
        this.settle();
      },
    );
  }

  settle() {
    this.settled++;
    if (this.drained && this.settled >= this.sent) {
      this.drained();
      this.drained = null;
    }
    const max = this.w.maxMessages;
    if (max && this.settled >= max && this.sent >= max) this.finish();
  }

  finish() {
    if (this.done) return;
    this.done = true;
    this.w.deviceDone(this);
  }

  applyInterval(sec) {
    this.override = sec;
    if (this.timer !== null) {
      // The next message comes one new interval after the last one.
      this.nextAt = Math.min(this.nextAt, performance.now() + sec * 1000);
      this.arm();
    }
  }

  desired(patch) {
    const st = this.w.stats;
    st.count("desiredPatches");
    if (!patch || !("interval" in patch)) return;
    const sec = intervalFrom(patch.interval);
    if (sec === null) {
      st.countCode("rejectedDesired", "interval");
      return;
    }
    this.applyInterval(sec);
    st.count("intervalChanges");
    if (this.w.reportTwin) this.report({ interval: sec });
  }

  report(patch) {
    const st = this.w.stats;
    st.count("reportedPatches");
    this.client.updateReportedProperties(patch).then(
      () => st.count("reportedAcked"),
      (e) => st.error("twin", e),
    );
  }

  async method(req, run) {
    const st = this.w.stats;
    st.countCode("methods", req.name);
    try {
      const r = await run();
      return r && typeof r === "object" && "status" in r ? r : { status: 200, payload: r ?? null };
    } catch (e) {
      st.countCode("methodErrors", req.name);
      return { status: 500, payload: { message: e && e.message ? e.message : String(e) } };
    }
  }

  setTelemetryInterval(payload) {
    const sec = intervalFrom(payload);
    if (sec === null) return BAD_INTERVAL;
    const previous = this.currentInterval();
    this.applyInterval(sec);
    this.w.stats.count("intervalChanges");
    return { status: 200, payload: { interval: sec, previous } };
  }

  /** Answers at once; then disconnects, stays offline `delaySeconds` (default 1) and reconnects. */
  reboot(payload) {
    if (this.rebooting) return { status: 409, payload: { message: "already rebooting" } };
    const delaySeconds = Math.min(300, Math.max(0, Number(payload && payload.delaySeconds) || 1));
    this.rebooting = true;
    this.w.stats.count("reboots");
    setTimeout(async () => {
      clearTimeout(this.timer);
      this.timer = null;
      this.setState("rebooting");
      try {
        await this.client.disconnect();
      } catch {
        // Going down anyway.
      }
      await new Promise((r) => setTimeout(r, delaySeconds * 1000));
      if (this.stopping) return;
      await this.connect();
      this.rebooting = false;
      if (this.stopping || this.state === "failed") return;
      this.setState(this.client.state === "connected" ? "connected" : "reconnecting");
      if (this.w.reportTwin) this.report({ lastReboot: new Date().toISOString() });
      this.nextAt = performance.now() + this.currentInterval() * 1000 * Math.random();
      this.arm();
    }, 200);
    return { status: 200, payload: { rebooting: true, delaySeconds } };
  }

  /** What user method handlers get as their second argument. */
  facade() {
    const self = this;
    return {
      id: this.id,
      index: this.index,
      get state() {
        return self.state;
      },
      get interval() {
        return self.currentInterval();
      },
      setInterval: (sec) => {
        const s = intervalFrom(sec);
        if (s === null) throw new RangeError(`interval ${sec}: expected seconds from ${MIN_INTERVAL} to ${MAX_INTERVAL}`);
        self.applyInterval(s);
      },
      sendEvent: (body, options) => self.client.sendEvent(body, options),
      reportProperties: (patch) => self.client.updateReportedProperties(patch),
      client: this.client,
    };
  }

  /**
   * Stops the clock, lets messages in flight be acknowledged, disconnects (all
   * bounded by `timeoutMs`), then frees the client.
   */
  async stop(timeoutMs) {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    if (!c) return;
    const deadline = performance.now() + timeoutMs;
    if (this.settled < this.sent && c.state === "connected") {
      let t;
      await Promise.race([new Promise((r) => (this.drained = r)), new Promise((r) => (t = setTimeout(r, timeoutMs)))]);
      clearTimeout(t);
    }
    if (c.state !== "disconnected" && c.state !== "closed") {
      let t;
      const left = Math.max(100, deadline - performance.now());
      await Promise.race([c.disconnect().catch(() => {}), new Promise((r) => (t = setTimeout(r, left)))]);
      clearTimeout(t);
    }
    if (this.state !== "failed") this.setState("stopped");
    c.close();
  }
}
