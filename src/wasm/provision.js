// The JS half of `DeviceClient.fromProvisioning` (cargo feature `dps`, npm entry
// `hubwire/provisioning`; docs/dps.md): reads the options, then drives a `DpsCore`
// (src/wasm/dps.rs, the sans-IO `dps::Client`) with client.js's socket, timer and
// user-call helpers until it ends. When DPS assigns, the hub client is built by the
// core for the assigned hub and device (same key, or `getToken` bound to the hub's
// resource), connected unless `connect: false`, and given `provisioning`: what DPS
// answered. Like client.js it decides nothing: retries, 429 `retry-after`, timeouts
// and what an answer means are the core's.

import { call, hwError, messageOf, sock as socket, timer as makeTimer } from "./client.js";

const invalid = (m) => hwError("INVALID_ARGUMENT", m, false);
// DpsCore.event kinds (src/wasm/dps.rs).
const OPEN = 1, CLOSE = 2, NEED_TOKEN = 3, ASSIGNED = 4, FAILED = 5;
const CANCEL = 1, TIMER = 4; // DpsCore.input, numbered as Core.input
const STRINGS = ["idScope", "registrationId", "symmetricKey", "groupKey", "modelId", "provisioningHost", "url"];

/** `ProvisioningOptions` → [...STRINGS, payload JSON, provisioningTimeoutMs, getToken, allowInsecure]. */
export function hwReadProvisioning(o) {
  if (o === null || typeof o !== "object") throw invalid("options must be an object");
  const r = STRINGS.map((k) => {
    const v = o[k] ?? undefined;
    if (v !== undefined && typeof v !== "string") throw invalid(`options.${k} must be a string`);
    return v;
  });
  for (const k of ["getToken", "webSocketFactory"]) {
    if (o[k] != null && typeof o[k] !== "function") throw invalid(`options.${k} must be a function`);
  }
  if (r[0] === undefined || r[1] === undefined) throw invalid("options.idScope and options.registrationId are required");
  if ((r[2] !== undefined) + (r[3] !== undefined) + (o.getToken != null) !== 1) {
    throw invalid("options need exactly one of symmetricKey, groupKey and getToken");
  }
  if (o.connect != null && typeof o.connect !== "boolean") throw invalid("options.connect must be a boolean");
  if (o.signal != null && typeof o.signal.addEventListener !== "function") throw invalid("options.signal must be an AbortSignal");
  let payload;
  if (o.payload !== undefined) {
    try { payload = JSON.stringify(o.payload); } catch (e) { throw invalid("options.payload: " + messageOf(e)); }
  }
  const ms = o.provisioningTimeoutMs ?? NaN;
  if (!isNaN(ms) && !(typeof ms === "number" && ms >= 1 && ms <= 4294967295)) {
    throw invalid("options.provisioningTimeoutMs must be a number from 1 to 4294967295");
  }
  return [...r, payload, ms, o.getToken ?? undefined, o.allowInsecure === true];
}

/** Drives the registration `core` to its end: resolves to the hub client, or rejects with the core's error. */
export function hwProvision(core, o, getToken) {
  return new Promise((resolve, reject) => {
    let done = false, client;
    // `signal` aborts the registration (CANCELLED, the core's decision) or, after it, the hub
    // client's first connect (the client is closed: CLOSED).
    const signal = o.signal, abort = () => (done ? client && client.close() : input((c, now) => c.input(now, CANCEL)));
    const end = () => {
      if (signal) signal.removeEventListener("abort", abort);
      done = true;
      timer.clear();
      sock.close();
      core.free();
    };
    const input = (feed) => {
      if (done) return;
      feed(core, Date.now());
      drive();
    };
    const sock = socket(o.webSocketFactory, input);
    const timer = makeTimer(() => input((c, now) => c.input(now, TIMER)));
    const event = (k) => {
      switch (k) {
        case OPEN: {
          const url = core.eventText(0);
          return () => sock.open(url);
        }
        case CLOSE: return () => sock.close();
        case NEED_TOKEN: {
          const expiry = core.eventNum(0), resource = core.eventText(0);
          return () => call((e) => getToken(e, resource), expiry, (ok, v) => input((c, now) => {
            if (!ok) c.token(now, 1, messageOf(v), 0);
            else if (typeof v !== "string") c.token(now, 2, undefined, 0);
            else c.token(now, 0, v, expiry);
          }));
        }
        case ASSIGNED: {
          const [assignedHub, deviceId, state, operationId] = [0, 1, 2, 3].map((i) => core.eventText(i));
          const resource = assignedHub + "/devices/" + deviceId;
          let p;
          try {
            p = { assignedHub, deviceId, registrationState: JSON.parse(state) };
            for (const k of ["substatus", "payload"]) if (p.registrationState[k] !== undefined) p[k] = p.registrationState[k];
            if (operationId !== undefined) p.operationId = operationId;
            client = core.client(o, getToken && ((e) => getToken(e, resource)));
          } catch (e) {
            return () => { end(); reject(e); };
          }
          client.provisioning = p;
          return () => {
            end();
            if (o.connect === false) return resolve(client);
            if (signal) signal.addEventListener("abort", abort);
            const settle = () => signal && signal.removeEventListener("abort", abort);
            client.connect().then(() => { settle(); resolve(client); }, (e) => { settle(); client.close(); reject(e); });
          };
        }
        case FAILED: {
          const e = core.eventError();
          return () => { end(); reject(e); };
        }
      }
      return null; // retrying, assigning: the core waits; nothing to do
    };
    const drive = () => {
      for (let round = 0; round < 256 && !done; round++) {
        const actions = [], out = [];
        let k, b;
        while ((k = core.event())) actions.push(event(k));
        while ((b = core.transmit())) out.push(b);
        timer.set(core.nextTimeout());
        if (!out.length && !actions.length) return;
        for (const b of out) sock.send(b);
        for (const a of actions) if (a && !done) a();
      }
    };
    if (signal) {
      signal.addEventListener("abort", abort);
      if (signal.aborted) abort();
    }
    drive();
  });
}
