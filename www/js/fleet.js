// Fleet mode: N device identities registered through the service API, each with its own
// DeviceClient, timer and counters, all in this tab.

import { gaussian, round, errorText } from "./dom.js";

/** Run `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

const STATES = ["connected", "connecting", "reconnecting", "disconnected"];

/** How long the fleet waits for one device's first connect before starting the next. */
const CONNECT_WAIT_MS = 10000;

/**
 * Chromium refuses more than 255 WebSockets per page ("Insufficient resources"),
 * so a fleet in one tab stays below that (the device panel may hold one more).
 */
export const MAX_FLEET = 250;

/** A simulated fleet. `onChange()` is called when counts or device states change. */
export class Fleet {
  constructor({ DeviceClient, service, wsUrl, onChange }) {
    this.DeviceClient = DeviceClient;
    this.service = service;
    this.wsUrl = wsUrl;
    this.onChange = onChange || (() => {});
    this.devices = [];
    this.running = false;
    this.totals = { sent: 0, acked: 0, errors: 0 };
    this.generation = 0;
  }

  counts() {
    const c = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const d of this.devices) {
      if (d.state in c) c[d.state]++;
      else if (d.state === "provisioning") c.connecting++;
      else if (d.state !== "stopped" && d.state !== "registering") c.disconnected++;
    }
    return c;
  }

  setState(d, state, detail) {
    d.state = state;
    d.detail = detail || "";
    this.onChange(d);
  }

  /**
   * Register, connect and start `n` devices named `${prefix}${i}`. Each sends every
   * `intervalSec` × (1 ± `spread`), its own rate, changeable per device with the
   * `setTelemetryInterval` direct method. With `identities: "dps"` nothing is put in the
   * registry: the enrollment group `${prefix}group` is created (or reused) and each device
   * provisions itself through DPS (`idScope`) with a key derived from the group key.
   */
  async start({ n, prefix, intervalSec, spread = 0, identities = "registry", idScope, onProgress }) {
    if (this.running) throw new Error("fleet already running");
    this.running = true;
    const gen = ++this.generation;
    const width = String(n).length < 3 ? 3 : String(n).length;
    this.devices = Array.from({ length: n }, (_, i) => ({
      id: `${prefix}${String(i + 1).padStart(width, "0")}`,
      state: "registering",
      detail: "",
      client: null,
      timer: null,
      seq: 0,
      sent: 0,
      acked: 0,
      errors: 0,
      started: false,
      temp: 20 + Math.random() * 5,
      intervalSec: round(intervalSec * (1 + spread * (Math.random() * 2 - 1)), 3),
    }));
    this.onChange(null);
    let registered = 0;
    let connected = 0;
    const t0 = performance.now();
    this.timing = { registerMs: 0, connectMs: 0 };
    if (identities === "dps") {
      try {
        if (!idScope) throw new Error("this emulator reports no DPS ID scope");
        const group = await this.service.ensureEnrollmentGroup(`${prefix}group`);
        const groupKey = group && group.attestation && group.attestation.symmetricKey && group.attestation.symmetricKey.primaryKey;
        if (!groupKey) throw new Error("the enrollment group came back without a key");
        for (const d of this.devices) d.provision = { idScope, registrationId: d.id, groupKey };
        onProgress && onProgress(`Enrollment group ${prefix}group ready; provisioning ${n} devices…`);
      } catch (e) {
        for (const d of this.devices) this.setState(d, "disconnected", `enrollment group: ${errorText(e)}`);
      }
    }
    await pool(this.devices, 8, async (d) => {
      if (gen !== this.generation || identities === "dps") return;
      try {
        const dev = await this.service.ensureDevice(d.id);
        const key = dev && dev.authentication && dev.authentication.symmetricKey && dev.authentication.symmetricKey.primaryKey;
        if (!key) throw new Error("the registry returned no primary key");
        d.connectionString = `HostName=${this.service.hostName};DeviceId=${d.id};SharedAccessKey=${key}`;
        registered++;
        onProgress && onProgress(`Registered ${registered}/${n} devices…`);
      } catch (e) {
        this.setState(d, "disconnected", `register: ${errorText(e)}`);
      }
    });
    if (gen !== this.generation) return;
    this.timing.registerMs = Math.round(performance.now() - t0);
    const t1 = performance.now();
    // Few connects in flight: Chromium delays new WebSockets by up to seconds once
    // more than a dozen are pending (measured: 50 devices 16 at a time took 9 s,
    // 3 at a time 0.6 s, against the emulator and against a plain `ws` server alike).
    await pool(
      this.devices.filter((d) => d.connectionString || d.provision),
      3,
      async (d) => {
        if (gen !== this.generation) return;
        await this.connectDevice(d);
        if (d.state === "connected") connected++;
        onProgress && onProgress(`Connected ${connected}/${n} devices…`);
      },
    );
    this.timing.connectMs = Math.round(performance.now() - t1);
  }

  async connectDevice(d) {
    let client;
    const options = this.wsUrl ? { url: this.wsUrl } : {};
    try {
      if (d.provision) {
        this.setState(d, "provisioning");
        const gen = this.generation;
        client = await this.DeviceClient.fromProvisioning({ ...d.provision, ...options, connect: false });
        if (gen !== this.generation) {
          client.close();
          return;
        }
      } else {
        client = this.DeviceClient.fromConnectionString(d.connectionString, options);
      }
    } catch (e) {
      this.setState(d, "disconnected", `${d.provision ? "provision: " : ""}${errorText(e)}`);
      return;
    }
    d.client = client;
    client.on("connected", () => {
      this.setState(d, "connected");
      // A device whose first connect outlasted CONNECT_WAIT_MS starts sending now.
      if (!d.started) this.begin(d);
    });
    client.on("reconnecting", (e) => this.setState(d, "reconnecting", `attempt ${e.attempt}`));
    client.on("disconnected", (e) => this.setState(d, e.willRetry ? "reconnecting" : "disconnected", `${e.code}: ${e.reason}`));
    client.on("error", () => {});
    client.onMethod("setTelemetryInterval", (req) => {
      const p = req.payload;
      const sec = typeof p === "number" ? p : p && typeof p.interval === "number" ? p.interval : NaN;
      if (!(sec >= 0.05 && sec <= 3600)) return { status: 400, payload: { message: "expected {\"interval\": seconds}, 0.05 to 3600" } };
      const previous = d.intervalSec;
      d.intervalSec = sec;
      clearTimeout(d.timer);
      this.schedule(d, sec * 1000);
      this.onChange(d);
      return { status: 200, payload: { interval: sec, previous } };
    });
    this.setState(d, "connecting");
    let timer;
    const slow = new Promise((resolve) => (timer = setTimeout(resolve, CONNECT_WAIT_MS, "slow")));
    try {
      // connect() keeps retrying a reachable-but-failing hub; the fleet moves on after a
      // while and leaves that device retrying (its tile says so).
      const r = await Promise.race([client.connect(), slow]);
      if (r !== "slow" && d.client === client) {
        this.setState(d, "connected");
        if (!d.started) this.begin(d);
      }
    } catch (e) {
      if (d.client === client) this.setState(d, "disconnected", errorText(e));
    } finally {
      clearTimeout(timer);
    }
  }

  begin(d) {
    d.started = true;
    this.schedule(d, Math.random() * d.intervalSec * 1000);
  }

  schedule(d, delay) {
    if (!this.running) return;
    d.timer = setTimeout(() => this.tick(d), delay);
  }

  tick(d) {
    d.timer = null;
    if (!this.running || !d.client) return;
    d.seq++;
    d.temp += gaussian(0.2);
    const body = JSON.stringify({ temperature: round(d.temp, 2), seq: d.seq });
    d.sent++;
    this.totals.sent++;
    d.client
      .sendEvent(body, { contentType: "application/json", contentEncoding: "utf-8", messageId: `${d.id}-${d.seq}` })
      .then(
        () => {
          d.acked++;
          this.totals.acked++;
        },
        (e) => {
          d.errors++;
          this.totals.errors++;
          d.detail = errorText(e);
        },
      );
    this.schedule(d, d.intervalSec * 1000);
  }

  /** Stop every timer and close every client. */
  async stop() {
    this.running = false;
    this.generation++;
    const devices = this.devices;
    for (const d of devices) clearTimeout(d.timer);
    await Promise.all(
      devices.map(async (d) => {
        if (!d.client) return;
        const c = d.client;
        d.client = null;
        try {
          await c.disconnect();
        } catch {
          // Already down: closing below is all that is left to do.
        }
        try {
          c.close();
        } catch {
          // close() on an already-closed client has nothing to free.
        }
        this.setState(d, "stopped");
      }),
    );
    this.onChange(null);
  }
}
