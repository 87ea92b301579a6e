// hubwire device-simulator dashboard: wires the panels of index.html to the wasm
// DeviceClient (docs/js-api.md) and, when served by the emulator, to its service API
// (docs/service-api.md). Secrets live only in password inputs and closures: nothing
// here writes them to the console or to a log panel.

import { $, h, clock, pretty, brief, errorText, prependCapped, flash, readJson, round, RateMeter } from "./dom.js";
import { parseConnectionString } from "./sas.js";
import { tokenServerGetToken } from "./token.js";
import { ServiceClient } from "./service.js";
import { SENSOR_KINDS, Sensor } from "./sensors.js";
import { TelemetryChart, RateChart } from "./chart.js";
import { Fleet, MAX_FLEET } from "./fleet.js";
import { fleetCommand } from "./fleet-cli.js";

const PKG_URL = new URL("../../pkg/hubwire.js", import.meta.url).href;

const app = {
  DeviceClient: null,
  info: null, // /emulator/info when served by the emulator
  client: null,
  deviceId: "",
  secrets: new Set(), // values scrubbed from any text shown on the page
  counters: { sent: 0, acked: 0, errors: 0, pending: 0 },
  sensors: [],
  chart: null,
  twin: { desired: { $version: 0 }, reported: { $version: 0 } },
  service: null,
  stopStream: null,
  fleet: null,
};

// ---------------------------------------------------------------- helpers

function scrub(text) {
  let s = String(text);
  for (const secret of app.secrets) if (secret && secret.length >= 8) s = s.split(secret).join("•••");
  return s;
}

function showBanner(html) {
  const b = $("banner");
  b.innerHTML = html;
  b.hidden = false;
}

function logEvent(text, cls = "") {
  const list = $("event-log");
  prependCapped(list, h("li", { class: cls }, h("time", {}, clock()), " ", scrub(text)), 80);
  $("event-count").textContent = String(Number($("event-count").textContent) + 1);
}

const HINTS = {
  UNAUTHORIZED: "The hub refused the credentials: check the device id and key, or the SAS token and its expiry.",
  INVALID_CONNECTION_STRING: "Expected HostName=…;DeviceId=…;SharedAccessKey=… (GatewayHostName and ModuleId are optional).",
  INVALID_ARGUMENT: "One of the connection settings is not valid.",
  TRANSPORT: "The WebSocket could not be opened or was closed: check the URL override and that the hub is reachable.",
  INSECURE_URL: "Plain ws:// to a non-loopback host is refused: use wss:// or tick “Allow ws://”.",
  SERVER_UNAVAILABLE: "The hub is temporarily unavailable; the client backs off and retries.",
  TIMEOUT: "The hub did not answer in time.",
  THROTTLED: "The hub is throttling this device; the client backs off and retries.",
  NOT_FOUND: "The device (or, when provisioning, the registration) is not known.",
  REGISTRATION_FAILED: "DPS could not assign the registration (see its errorCode).",
  REGISTRATION_DISABLED: "The DPS enrollment (or this device in its group) is disabled.",
};

// ---------------------------------------------------------------- connection state

let countdownTimer = null;

function setConn(state, text) {
  clearInterval(countdownTimer);
  countdownTimer = null;
  const pill = $("conn-pill");
  pill.className = `pill state-${state}`;
  $("conn-state-text").textContent = scrub(text);
  document.body.dataset.conn = state;
  const connected = state === "connected";
  $("twin-refresh").disabled = !connected;
  $("reported-send").disabled = !connected;
  $("disconnect-btn").disabled = !app.client || state === "disconnected" || state === "closed";
}

function showReconnecting(attempt, delayMs) {
  const until = performance.now() + delayMs;
  setConn("reconnecting", `Reconnecting in ${Math.ceil(delayMs / 1000)} s (attempt ${attempt})`);
  countdownTimer = setInterval(() => {
    const left = Math.max(0, until - performance.now());
    $("conn-state-text").textContent = left > 0 ? `Reconnecting in ${Math.ceil(left / 1000)} s (attempt ${attempt})` : `Reconnecting… (attempt ${attempt})`;
  }, 250);
}

// ---------------------------------------------------------------- connect panel

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function dpsKind() {
  return document.querySelector('input[name="dps-kind"]:checked').value;
}

function clientOptions() {
  const url = $("url-input").value.trim();
  const options = {};
  if (url) options.url = url;
  if ($("insecure-check").checked) options.allowInsecure = true;
  return options;
}

function invalid(message) {
  const e = new Error(message);
  e.code = "INVALID_ARGUMENT";
  return e;
}

/**
 * Provision mode: DPS registration with the device key, or with the group key (the
 * device key is derived from it inside the client), then a client for the assigned
 * hub and device. The URL override serves both DPS and the hub (as the emulator does).
 */
async function provisionClient() {
  const idScope = $("dps-scope").value.trim();
  const registrationId = $("dps-reg").value.trim();
  const key = $("dps-key").value.trim();
  const modelId = $("dps-model").value.trim();
  if (!idScope || !registrationId || !key) throw invalid("ID scope, registration id and key are all required");
  app.secrets.add(key);
  const options = clientOptions();
  // connect: false: the caller adds its listeners, then connects (as for the other modes).
  const o = { idScope, registrationId, ...options, connect: false };
  if (dpsKind() === "group") o.groupKey = key;
  else o.symmetricKey = key;
  if (modelId) o.modelId = modelId;
  const out = $("dps-result");
  out.className = "small";
  out.textContent = `Registering ${registrationId} with DPS…`;
  delete out.dataset.hub;
  delete out.dataset.device;
  setConn("connecting", `Provisioning ${registrationId}…`);
  logEvent(`DeviceClient.fromProvisioning(${registrationId}, ${dpsKind()} key)`);
  try {
    const client = await app.DeviceClient.fromProvisioning(o);
    const p = client.provisioning;
    out.className = "small ok";
    out.textContent = `Assigned hub ${p.assignedHub} · device id ${p.deviceId}`;
    out.dataset.hub = p.assignedHub;
    out.dataset.device = p.deviceId;
    logEvent(`provisioned: hub ${p.assignedHub}, device ${p.deviceId} (${p.substatus || "assigned"})`, "ok");
    return { deviceId: p.deviceId, client };
  } catch (e) {
    out.className = "small bad";
    out.textContent = scrub(`Provisioning failed: ${e.code || "ERROR"}${e.errorCode ? ` (DPS errorCode ${e.errorCode})` : ""}`);
    throw e;
  }
}

function buildClient() {
  const options = clientOptions();
  if (mode() === "token") {
    const hostName = $("tok-host").value.trim();
    const deviceId = $("tok-device").value.trim();
    const token = $("tok-token").value.trim();
    const tokenUrl = $("tok-url").value.trim();
    if (!hostName || !deviceId || !(token || tokenUrl)) {
      throw invalid("host name, device id and a SAS token or a token server URL are all required");
    }
    if (token) app.secrets.add(token);
    const getToken = tokenUrl ? tokenServerGetToken(tokenUrl, deviceId) : async () => token;
    return {
      deviceId,
      client: app.DeviceClient.fromTokenProvider({ hostName, deviceId, getToken }, options),
    };
  }
  const cs = $("cs-input").value.trim();
  let deviceId = "";
  try {
    const parsed = parseConnectionString(cs);
    deviceId = parsed.ModuleId ? `${parsed.DeviceId}/${parsed.ModuleId}` : parsed.DeviceId || "";
    if (parsed.SharedAccessKey) app.secrets.add(parsed.SharedAccessKey);
    if (parsed.SharedAccessSignature) app.secrets.add(parsed.SharedAccessSignature);
  } catch {
    // The client's own parser gives the authoritative error below.
  }
  app.secrets.add(cs);
  return { deviceId, client: app.DeviceClient.fromConnectionString(cs, options) };
}

function releaseClient() {
  const c = app.client;
  app.client = null;
  if (!c) return;
  try {
    c.close();
  } catch {
    // Already closed: nothing left to free.
  }
}

async function connect() {
  $("connect-error").textContent = "";
  if (!app.DeviceClient) {
    $("connect-error").textContent = "The wasm client (pkg/) is not loaded.";
    return;
  }
  releaseClient();
  let built;
  $("connect-btn").disabled = true;
  try {
    built = mode() === "dps" ? await provisionClient() : buildClient();
  } catch (e) {
    failConnect(e);
    $("connect-btn").disabled = false;
    return;
  }
  const client = built.client;
  app.client = client;
  app.deviceId = built.deviceId;
  $("device-id-label").textContent = app.deviceId ? `· ${app.deviceId}` : "";
  wireClient(client);
  setConn("connecting", `Connecting${app.deviceId ? " as " + app.deviceId : ""}…`);
  logEvent("connect()");
  $("connect-btn").disabled = true;
  try {
    await client.connect();
    if (app.client !== client) return;
    setConn("connected", `Connected as ${app.deviceId || "device"}`);
    if (app.service && app.deviceId && !app.deviceId.includes("/")) {
      $("cloud-device").value = app.deviceId;
      addKnownDevice(app.deviceId);
    }
    await refreshTwin();
  } catch (e) {
    if (app.client !== client) return;
    failConnect(e);
    const st = safeState(client);
    if (st !== "reconnecting" && st !== "connecting") releaseClient();
    setConn(st === "reconnecting" ? "reconnecting" : "disconnected", `Disconnected: ${e.code || "ERROR"}`);
  } finally {
    $("connect-btn").disabled = false;
  }
}

function safeState(client) {
  try {
    return client.state;
  } catch {
    return "closed";
  }
}

function failConnect(e) {
  const text = scrub(errorText(e));
  // The client's own message may already say what to check; then the hint would repeat it.
  const hint = /check/i.test(text) ? "" : HINTS[e && e.code] || "";
  $("connect-error").textContent = hint ? `${text}. ${hint}` : text;
  logEvent(`connect failed: ${text}`, "bad");
  setConn("disconnected", `Disconnected: ${e && e.code ? e.code : "error"}`);
}

async function disconnect() {
  const c = app.client;
  if (!c) return;
  logEvent("disconnect()");
  try {
    await c.disconnect();
  } catch (e) {
    logEvent(`disconnect: ${errorText(e)}`, "bad");
  }
  releaseClient();
  setConn("disconnected", "Disconnected (by you)");
}

function wireClient(client) {
  const mine = () => app.client === client;
  let everConnected = false;
  client.on("connected", () => {
    if (!mine()) return;
    everConnected = true;
    $("connect-error").textContent = "";
    logEvent("connected", "ok");
    setConn("connected", `Connected as ${app.deviceId || "device"}`);
  });
  client.on("disconnected", (e) => {
    if (!mine()) return;
    const why = `${e.code}: ${e.reason}`;
    logEvent(`disconnected (${why})${e.willRetry ? ", will retry" : ""}`, "bad");
    // A connect that keeps retrying must not lock the form: Connect (new settings) and
    // Disconnect (stop retrying) both stay usable.
    $("connect-btn").disabled = false;
    if (e.willRetry) {
      setConn("reconnecting", `Connection lost (${e.code}); retrying`);
      if (!everConnected) {
        $("connect-error").textContent = scrub(
          `Not connected yet (${why}); retrying. Check the URL override and that the hub is reachable; Disconnect stops the retries.`,
        );
      }
    } else {
      setConn("disconnected", `Disconnected: ${why}`);
      const hint = /check/i.test(why) ? "" : HINTS[e.code];
      if (e.code && e.code !== "CLOSED") $("connect-error").textContent = scrub(hint ? `${why}. ${hint}` : why);
    }
  });
  client.on("reconnecting", (e) => {
    if (!mine()) return;
    logEvent(`reconnecting: attempt ${e.attempt} in ${e.delayMs} ms`);
    showReconnecting(e.attempt, e.delayMs);
  });
  client.on("error", (e) => {
    if (!mine()) return;
    logEvent(`error ${errorText(e)}`, "bad");
  });
  client.onMessage((m) => mine() && showC2d(m));
  client.onDesiredPropertiesUpdate((patch) => mine() && applyDesiredPatch(patch));
  client.onMethod("setTelemetryInterval", (req) => logged(req, setTelemetryIntervalHandler(req)));
  client.onMethod("reboot", (req) => logged(req, rebootHandler(req, client)));
  client.onMethod((req) => logged(req, { status: 501, payload: { message: `no handler for method '${req.name}'` } }));
}

// ---------------------------------------------------------------- sensors

function intervalSummary() {
  const vals = [...new Set(app.sensors.map((s) => s.intervalSec))];
  $("telemetry-interval").textContent = vals.length === 1 ? `${vals[0]} s` : `mixed (${vals.map((v) => v + " s").join(", ")})`;
}

let countersQueued = false;
function renderCounters() {
  if (countersQueued) return;
  countersQueued = true;
  requestAnimationFrame(() => {
    countersQueued = false;
    const c = app.counters;
    $("sent-count").textContent = String(c.sent);
    $("acked-count").textContent = String(c.acked);
    $("error-count").textContent = String(c.errors);
    $("pending-count").textContent = String(c.pending);
  });
}

function sendReading(sensor, reading, err) {
  const row = h("tr", { class: "pending" }, h("td", {}, clock()), h("td", {}, sensor.kind.label), h("td", { class: "mono" }, reading ? brief(reading.body, 60) : "–"));
  const result = h("td", { class: "result" }, "sending…");
  row.append(result);
  prependCapped($("send-log"), row, 60);
  const done = (ok, text) => {
    row.className = ok ? "ok" : "bad";
    result.textContent = text;
  };
  const c = app.counters;
  c.sent++;
  if (err || !reading) {
    c.errors++;
    done(false, `INVALID_ARGUMENT: ${err ? err.message : "no reading"}`);
    toggleSensor(sensor, false);
    renderCounters();
    return;
  }
  if (reading.value !== null) $(`${sensor.key}-value`).textContent = `${reading.value} ${sensor.kind.unit}`;
  const client = app.client;
  if (!client) {
    c.errors++;
    done(false, "DISCONNECTED: not connected");
    renderCounters();
    return;
  }
  if (reading.value !== null) app.chart.add(sensor.key, reading.value);
  c.pending++;
  renderCounters();
  const t0 = performance.now();
  const messageId = `${app.deviceId || "device"}-${sensor.key}-${sensor.seq}`;
  client
    .sendEvent(JSON.stringify(reading.body), {
      contentType: "application/json",
      contentEncoding: "utf-8",
      messageId,
      properties: { sensor: sensor.key },
    })
    .then(
      () => {
        c.acked++;
        done(true, `acked ${Math.round(performance.now() - t0)} ms`);
      },
      (e) => {
        c.errors++;
        done(false, scrub(e && e.code ? e.code : errorText(e)));
        row.title = scrub(errorText(e));
      },
    )
    .finally(() => {
      c.pending--;
      renderCounters();
    });
}

function toggleSensor(sensor, on) {
  if (on) sensor.start();
  else sensor.stop();
  const btn = $(`${sensor.key}-toggle`);
  btn.setAttribute("aria-pressed", String(sensor.running));
  btn.textContent = sensor.running ? "Stop" : "Start";
  $(`sensor-${sensor.key}`).classList.toggle("running", sensor.running);
}

function setAllIntervals(sec) {
  for (const s of app.sensors) {
    s.setInterval(sec);
    $(`${s.key}-interval`).value = String(sec);
  }
  intervalSummary();
}

function buildSensors() {
  const rows = $("sensor-rows");
  for (const kind of SENSOR_KINDS) {
    const sensor = new Sensor(kind, {
      intervalSec: 2,
      send: sendReading,
      getTemplate: () => {
        const r = readJson($("custom-json"), $("custom-error"));
        if (!r.ok) throw new Error("custom payload is not valid JSON");
        return r.value;
      },
    });
    app.sensors.push(sensor);
    const k = kind.key;
    const noiseOut = h("output", { id: `${k}-noise-out`, for: `${k}-noise` }, String(kind.noise.value));
    const row = h(
      "div",
      { class: "sensor", id: `sensor-${k}`, role: "group", "aria-labelledby": `${k}-name` },
      h(
        "div",
        { class: "sensor-head" },
        h("span", { class: `swatch sw-${k}`, "aria-hidden": "true" }),
        h("strong", { id: `${k}-name` }, kind.label),
        h("span", { class: "value mono", id: `${k}-value` }, "–"),
        h("span", { class: "rate small muted", id: `${k}-rate`, "aria-label": `${kind.label} measured rate` }, "0.00 msg/s"),
        h("button", { type: "button", id: `${k}-toggle`, class: "toggle", "aria-pressed": "false", "aria-label": `Start or stop ${kind.label}`, onclick: () => toggleSensor(sensor, !sensor.running) }, "Start"),
      ),
      h(
        "div",
        { class: "sensor-controls" },
        h("label", { for: `${k}-interval` }, "Interval (s)"),
        h("input", { id: `${k}-interval`, type: "number", min: "0.05", max: "3600", step: "0.05", value: "2", onchange: (ev) => {
          const v = Number(ev.target.value);
          if (v >= 0.05 && v <= 3600) {
            sensor.setInterval(v);
            ev.target.removeAttribute("aria-invalid");
            intervalSummary();
          } else ev.target.setAttribute("aria-invalid", "true");
        } }),
        h("label", { for: `${k}-noise` }, "Noise σ ", noiseOut),
        h("input", { id: `${k}-noise`, type: "range", min: kind.noise.min, max: kind.noise.max, step: kind.noise.step, value: kind.noise.value, oninput: (ev) => {
          sensor.noise = Number(ev.target.value);
          noiseOut.textContent = ev.target.value;
        } }),
      ),
    );
    if (kind.custom) {
      row.append(
        h("label", { for: "custom-json" }, "Payload template (numbers get the noise; \"$seq\" and \"$now\" are filled in)"),
        h("textarea", { id: "custom-json", rows: "3", spellcheck: "false", "aria-describedby": "custom-error" }, '{ "pressure": 1013.2, "door": "closed", "seq": "$seq" }'),
        h("p", { id: "custom-error", class: "error" }),
      );
    }
    rows.append(row);
  }
  $("start-all").addEventListener("click", () => app.sensors.forEach((s) => toggleSensor(s, true)));
  $("stop-all").addEventListener("click", () => app.sensors.forEach((s) => toggleSensor(s, false)));
  setInterval(() => {
    for (const s of app.sensors) $(`${s.key}-rate`).textContent = `${s.rate().toFixed(2)} msg/s`;
  }, 500);
  intervalSummary();
}

// ---------------------------------------------------------------- C2D inbox

function showC2d(m) {
  let body;
  try {
    body = m.text();
  } catch {
    body = `(${m.body ? m.body.length : 0} bytes)`;
  }
  let shown = body;
  try {
    shown = pretty(JSON.parse(body));
  } catch {
    // Not JSON: show the text as it came.
  }
  const props = Object.entries(m.properties || {});
  const sys = [
    ["messageId", m.messageId],
    ["correlationId", m.correlationId],
    ["contentType", m.contentType],
    ["contentEncoding", m.contentEncoding],
    ["expiry", m.expiry],
    ["to", m.to],
  ].filter(([, v]) => v);
  const item = h(
    "li",
    { class: "msg" },
    h("div", { class: "msg-head" }, h("time", {}, clock()), sys.length ? h("span", { class: "mono small" }, m.messageId ? `id ${m.messageId}` : "") : null),
    h("pre", { class: "json" }, shown),
    h(
      "dl",
      { class: "props" },
      ...props.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null ? "(null)" : v)]),
      ...sys.filter(([k]) => k !== "messageId").flatMap(([k, v]) => [h("dt", { class: "sys" }, k), h("dd", {}, v)]),
    ),
  );
  prependCapped($("c2d-list"), item, 50);
  $("c2d-empty").hidden = true;
  $("c2d-count").textContent = String(Number($("c2d-count").textContent) + 1);
  flash(item);
}

// ---------------------------------------------------------------- twin

function renderTwin(which) {
  const t = app.twin[which];
  const { $version, ...rest } = t;
  $(`twin-${which}`).textContent = pretty(rest);
  $(`twin-${which}-version`).textContent = `v${$version ?? "–"}`;
}

/** Apply a patch where `null` deletes, recursively, as the hub does. */
function mergePatch(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$version") continue;
    if (v === null) delete target[k];
    else if (v && typeof v === "object" && !Array.isArray(v) && target[k] && typeof target[k] === "object" && !Array.isArray(target[k])) mergePatch(target[k], v);
    else target[k] = v;
  }
  return target;
}

async function refreshTwin() {
  const client = app.client;
  if (!client) return;
  try {
    const twin = await client.getTwin();
    if (app.client !== client) return;
    app.twin = { desired: twin.desired || { $version: 0 }, reported: twin.reported || { $version: 0 } };
    renderTwin("desired");
    renderTwin("reported");
    logEvent(`twin: desired v${app.twin.desired.$version}, reported v${app.twin.reported.$version}`);
  } catch (e) {
    logEvent(`getTwin failed: ${errorText(e)}`, "bad");
  }
}

function applyDesiredPatch(patch) {
  mergePatch(app.twin.desired, patch);
  if (typeof patch.$version === "number") app.twin.desired.$version = patch.$version;
  renderTwin("desired");
  flash($("twin-desired-box"));
  const { $version, ...rest } = patch;
  prependCapped($("desired-updates"), h("li", { class: "flash" }, h("time", {}, clock()), " ", h("strong", {}, `v${$version}`), " ", h("code", {}, brief(rest, 140))), 30);
}

async function sendReported() {
  const r = readJson($("reported-editor"), $("reported-error"));
  if (!r.ok) return;
  if (!r.value || typeof r.value !== "object" || Array.isArray(r.value)) {
    $("reported-error").textContent = "The patch must be a JSON object.";
    return;
  }
  const client = app.client;
  if (!client) return;
  const out = $("reported-result");
  out.className = "";
  out.textContent = "sending…";
  $("reported-send").disabled = true;
  try {
    const version = await client.updateReportedProperties(r.value);
    mergePatch(app.twin.reported, r.value);
    app.twin.reported.$version = version;
    renderTwin("reported");
    flash($("twin-reported-box"));
    out.className = "ok";
    out.textContent = `Accepted: reported v${version}`;
  } catch (e) {
    out.className = "bad";
    out.textContent = scrub(errorText(e));
  } finally {
    $("reported-send").disabled = document.body.dataset.conn !== "connected";
  }
}

// ---------------------------------------------------------------- direct methods

async function logged(req, response) {
  const row = h("tr", {}, h("td", {}, clock()), h("td", {}, h("code", {}, req.name)), h("td", { class: "mono" }, brief(req.payload, 60)));
  const cell = h("td", { class: "mono" }, "…");
  row.append(cell);
  prependCapped($("method-log"), row, 40);
  let res;
  try {
    res = await response;
  } catch (e) {
    res = { status: 500, payload: { message: e.message } };
  }
  row.className = res.status < 300 ? "ok" : "bad";
  cell.textContent = `${res.status} ${res.payload === undefined ? "" : brief(res.payload, 60)}`;
  return res;
}

function setTelemetryIntervalHandler(req) {
  const p = req.payload;
  let sec = NaN;
  if (typeof p === "number") sec = p;
  else if (typeof p === "string") sec = Number(p);
  else if (p && typeof p === "object") {
    if (typeof p.interval === "number") sec = p.interval;
    else if (typeof p.intervalSeconds === "number") sec = p.intervalSeconds;
    else if (typeof p.intervalMs === "number") sec = p.intervalMs / 1000;
  }
  if (!(sec >= 0.05 && sec <= 3600)) {
    return { status: 400, payload: { message: "expected an interval in seconds between 0.05 and 3600, e.g. {\"interval\": 5}" } };
  }
  const previous = app.sensors[0].intervalSec;
  setAllIntervals(sec);
  logEvent(`setTelemetryInterval: ${previous} s → ${sec} s`);
  return { status: 200, payload: { interval: sec, previous } };
}

function rebootHandler(req, client) {
  const delaySeconds = Math.min(30, Math.max(1, Number(req.payload && req.payload.delaySeconds) || 2));
  // Answer first; the "reboot" happens after the response has left.
  setTimeout(async () => {
    if (app.client !== client) return;
    const wasRunning = app.sensors.filter((s) => s.running);
    wasRunning.forEach((s) => toggleSensor(s, false));
    logEvent(`reboot: offline for ${delaySeconds} s`);
    try {
      await client.disconnect();
    } catch {
      // Going down anyway.
    }
    setConn("disconnected", "Rebooting…");
    await new Promise((r) => setTimeout(r, delaySeconds * 1000));
    if (app.client !== client) return;
    const battery = app.sensors.find((s) => s.key === "battery");
    if (battery) battery.level = 100;
    setConn("connecting", "Connecting after reboot…");
    try {
      await client.connect();
      setConn("connected", `Connected as ${app.deviceId || "device"}`);
      await client.updateReportedProperties({ lastReboot: new Date().toISOString() }).then((v) => {
        app.twin.reported.lastReboot = new Date().toISOString();
        app.twin.reported.$version = v;
        renderTwin("reported");
      });
      await refreshTwin();
    } catch (e) {
      failConnect(e);
    }
    wasRunning.forEach((s) => toggleSensor(s, true));
  }, 300);
  return { status: 200, payload: { rebooting: true, delaySeconds } };
}

// ---------------------------------------------------------------- cloud side

function addKnownDevice(id) {
  const list = $("known-devices");
  if ([...list.options].some((o) => o.value === id)) return;
  list.append(h("option", { value: id }));
}

function cloudDevice() {
  const id = $("cloud-device").value.trim();
  if (!id) throw new Error("enter a target device id");
  return id;
}

function setResult(el, ok, text) {
  el.className = ok ? "ok" : "bad";
  el.textContent = scrub(text);
}

function makeService() {
  if (app.stopStream) app.stopStream();
  app.stopStream = null;
  try {
    const cs = $("svc-cs").value.trim();
    const parsed = parseConnectionString(cs);
    if (parsed.SharedAccessKey) app.secrets.add(parsed.SharedAccessKey);
    app.service = new ServiceClient(cs);
    $("svc-result").textContent = `Service API as ${parsed.SharedAccessKeyName || "?"} on ${parsed.HostName}`;
    $("svc-result").className = "small";
  } catch (e) {
    app.service = null;
    setResult($("svc-result"), false, e.message);
    return;
  }
  startTelemetryStream();
}

const tele = { count: 0, meter: new RateMeter(5000) };

function teleRow(item) {
  const props = Object.entries(item.properties || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return h(
    "tr",
    { dataset: { device: item.deviceId || "" } },
    h("td", {}, String(item.seq)),
    h("td", {}, item.enqueuedTimeUtc ? clock(new Date(item.enqueuedTimeUtc)) : ""),
    h("td", {}, item.moduleId ? `${item.deviceId}/${item.moduleId}` : item.deviceId),
    h("td", { class: "mono" }, brief(item.body ?? `base64:${item.bodyBase64 || ""}`, 80)),
    h("td", { class: "mono small" }, props),
  );
}

let teleQueue = [];
let teleQueued = false;
function onTelemetry(item) {
  tele.count++;
  tele.meter.mark();
  teleQueue.push(item);
  if (teleQueued) return;
  teleQueued = true;
  requestAnimationFrame(() => {
    teleQueued = false;
    const filter = $("tele-filter").value.trim();
    const body = $("tele-body");
    const batch = teleQueue.slice(-100);
    teleQueue = [];
    for (const it of batch) {
      if (filter && !String(it.deviceId || "").includes(filter)) continue;
      prependCapped(body, teleRow(it), 100);
    }
    $("tele-count").textContent = String(tele.count);
  });
}

function startTelemetryStream() {
  if (!app.service) return;
  const state = $("tele-stream-state");
  app.stopStream = app.service.followTelemetry({
    after: 0,
    onItem: onTelemetry,
    onState: (s, e) => {
      state.textContent = s === "open" ? "live" : s === "error" ? `stream error: ${scrub(errorText(e))}; retrying` : "stream closed; retrying";
      state.className = `small ${s === "open" ? "ok" : "muted"}`;
    },
  });
}

function parseProps(text) {
  const out = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq).trim();
    const value = eq < 0 ? "" : line.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new Error(`line ${i + 1}: "${name}" is not a valid property name`);
    out.push([name, value]);
  }
  return out;
}

async function cloudSendC2d(ev) {
  ev.preventDefault();
  const out = $("c2d-result");
  let props;
  try {
    props = parseProps($("c2d-props").value);
    $("c2d-props").removeAttribute("aria-invalid");
    $("c2d-props-error").textContent = "";
  } catch (e) {
    $("c2d-props").setAttribute("aria-invalid", "true");
    $("c2d-props-error").textContent = e.message;
    return;
  }
  try {
    const id = cloudDevice();
    const messageId = $("c2d-mid").value.trim() || crypto.randomUUID();
    await app.service.sendC2d(id, $("c2d-body").value, {
      messageId,
      correlationId: $("c2d-cid").value.trim(),
      contentType: $("c2d-ct").value.trim(),
      properties: props,
    });
    setResult(out, true, `Queued for ${id} (id ${messageId})`);
  } catch (e) {
    setResult(out, false, errorText(e));
  }
}

async function cloudInvoke(ev) {
  ev.preventDefault();
  const status = $("m-status");
  const pre = $("m-result");
  const r = readJson($("m-payload"), $("m-payload-error"), { allowEmpty: true, emptyValue: null });
  if (!r.ok) return;
  const name = $("m-name").value.trim();
  if (!name) {
    setResult(status, false, "enter a method name");
    return;
  }
  // IoT Hub accepts responseTimeoutInSeconds from 5 to 300 (400 otherwise).
  const timeout = Math.min(300, Math.max(5, Number($("m-timeout").value) || 30));
  status.className = "";
  status.textContent = "invoking…";
  pre.textContent = "";
  $("m-invoke").disabled = true;
  const t0 = performance.now();
  try {
    const res = await app.service.invokeMethod(cloudDevice(), name, r.value, timeout);
    const ms = Math.round(performance.now() - t0);
    setResult(status, res.status >= 200 && res.status < 300, `status ${res.status} in ${ms} ms`);
    pre.textContent = pretty(res.payload);
  } catch (e) {
    setResult(status, false, errorText(e));
  } finally {
    $("m-invoke").disabled = false;
  }
}

async function cloudPatchDesired(ev) {
  ev.preventDefault();
  const out = $("desired-result");
  const r = readJson($("desired-editor"), $("desired-error"));
  if (!r.ok) return;
  if (!r.value || typeof r.value !== "object" || Array.isArray(r.value)) {
    $("desired-error").textContent = "The patch must be a JSON object.";
    return;
  }
  try {
    const twin = await app.service.patchDesired(cloudDevice(), r.value);
    const v = twin && twin.properties && twin.properties.desired ? twin.properties.desired.$version : "?";
    setResult(out, true, `Patched: desired v${v}`);
  } catch (e) {
    setResult(out, false, errorText(e));
  }
}

let lastEnrollment = null;

function enrollmentKind() {
  return document.querySelector('input[name="enr-kind"]:checked').value;
}

async function cloudCreateEnrollment(ev) {
  ev.preventDefault();
  const out = $("enr-result");
  const kind = enrollmentKind();
  const id = $("enr-id").value.trim();
  if (!id) return setResult(out, false, "enter an id");
  $("enr-create").disabled = true;
  try {
    const e = await app.service.putEnrollment(kind, id);
    const key = e && e.attestation && e.attestation.symmetricKey && e.attestation.symmetricKey.primaryKey;
    if (!key) throw new Error("the enrollment came back without a key");
    app.secrets.add(key);
    lastEnrollment = { kind, id, key };
    $("enr-use").hidden = false;
    setResult(out, true, `${kind === "group" ? "Enrollment group" : "Individual enrollment"} ${id} ready (${e.provisioningStatus || "enabled"}); its key stays in this page.`);
  } catch (e) {
    setResult(out, false, errorText(e));
  } finally {
    $("enr-create").disabled = false;
  }
}

/** Fills the connect panel's Provision mode with the enrollment just created. */
function useEnrollment() {
  const e = lastEnrollment;
  if (!e) return;
  document.querySelector('input[name="mode"][value="dps"]').checked = true;
  showMode();
  document.querySelector(`input[name="dps-kind"][value="${e.kind === "group" ? "group" : "device"}"]`).checked = true;
  showDpsKind();
  if (app.info && app.info.dps) $("dps-scope").value = app.info.dps.idScope;
  $("dps-reg").value = e.kind === "group" ? `${e.id}-device-1` : e.id;
  $("dps-key").value = e.key;
  $("dps-reg").focus();
  $("enr-result").textContent = `Provision mode is filled in with ${e.kind === "group" ? "a device of group " : ""}${e.id}: press Connect.`;
}

// ---------------------------------------------------------------- fleet

const fleetTiles = new Map();

function renderFleetTile(d) {
  let li = fleetTiles.get(d.id);
  if (!li) {
    li = h("li", { class: "tile" });
    fleetTiles.set(d.id, li);
    $("fleet-grid").append(li);
  }
  li.className = `tile t-${d.state}`;
  const label = `${d.id}: ${d.state}, every ${d.intervalSec} s${d.detail ? " — " + scrub(d.detail) : ""}`;
  li.title = label;
  li.setAttribute("aria-label", label);
}

function renderFleetCounts() {
  const f = app.fleet;
  if (!f) return;
  const c = f.counts();
  for (const k of ["connected", "connecting", "reconnecting"]) $(`fleet-${k}`).textContent = String(c[k]);
  $("fleet-disconnected").textContent = String(c.disconnected);
  $("fleet-sent").textContent = String(f.totals.sent);
  $("fleet-acked").textContent = String(f.totals.acked);
  $("fleet-errors").textContent = String(f.totals.errors);
}

let fleetCountsQueued = false;
function onFleetChange(d) {
  if (d) renderFleetTile(d);
  else {
    $("fleet-grid").replaceChildren();
    fleetTiles.clear();
    for (const x of app.fleet.devices) renderFleetTile(x);
  }
  if (fleetCountsQueued) return;
  fleetCountsQueued = true;
  requestAnimationFrame(() => {
    fleetCountsQueued = false;
    renderFleetCounts();
  });
}

function setupFleet() {
  const chart = new RateChart($("fleet-chart"));
  let last = null;
  setInterval(() => {
    const f = app.fleet;
    if (!f) return;
    const t = { ...f.totals };
    if (last && (f.running || f.totals.sent !== last.sent || f.totals.acked !== last.acked)) {
      const ds = t.sent - last.sent;
      const da = t.acked - last.acked;
      const de = t.errors - last.errors;
      $("fleet-sent-rate").textContent = String(ds);
      $("fleet-acked-rate").textContent = String(da);
      $("fleet-error-rate").textContent = String(de);
      chart.add(Date.now(), ds, da, de);
      $("fleet-chart-empty").hidden = true;
    } else if (!f.running) {
      for (const k of ["sent", "acked", "error"]) $(`fleet-${k}-rate`).textContent = "0";
    }
    last = t;
    renderFleetCounts();
  }, 1000);

  $("fleet-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const identities = document.querySelector('input[name="fleet-ids"]:checked').value;
    const n = Math.floor(Number($("fleet-size").value));
    const interval = Number($("fleet-interval").value);
    const prefix = $("fleet-prefix").value.trim();
    const spread = Number($("fleet-spread").value) / 100;
    const status = $("fleet-status");
    if (n > MAX_FLEET) {
      return setResult(status, false, `${n} devices is more than a tab can hold (at most ${MAX_FLEET}: Chromium allows 255 WebSockets per browser). Run the hubwire fleet command below instead.`);
    }
    if (!(n >= 1)) return setResult(status, false, `Devices: 1 to ${MAX_FLEET} in this tab.`);
    if (!(interval >= 0.05)) return setResult(status, false, "Interval: at least 0.05 s.");
    if (!(spread >= 0 && spread <= 0.9)) return setResult(status, false, "Spread: 0 to 90 %.");
    if (!/^[A-Za-z0-9\-.+%_#*?!(),:=@$']+$/.test(prefix)) return setResult(status, false, "Id prefix: letters, digits and - . _ only.");
    if (!app.service) return setResult(status, false, "The service API is not configured.");
    if (app.fleet && app.fleet.running) return;
    chart.clear();
    app.fleet = new Fleet({ DeviceClient: app.DeviceClient, service: app.service, wsUrl: $("url-input").value.trim() || (app.info && app.info.wsUrl), onChange: onFleetChange });
    $("fleet-start").disabled = true;
    $("fleet-stop").disabled = false;
    status.className = "";
    status.textContent = `Starting ${n} devices…`;
    const t0 = performance.now();
    try {
      await app.fleet.start({
        n,
        prefix,
        intervalSec: interval,
        spread,
        identities,
        idScope: app.info && app.info.dps && app.info.dps.idScope,
        onProgress: (text) => (status.textContent = text),
      });
      const c = app.fleet.counts();
      if (app.fleet.running) {
        const { registerMs, connectMs } = app.fleet.timing;
        setResult(
          status,
          c.connected === n,
          `${c.connected}/${n} devices connected in ${round((performance.now() - t0) / 1000, 1)} s ` +
            `(registry ${round(registerMs / 1000, 2)} s, connects ${round(connectMs / 1000, 2)} s), sending every ${interval} s` +
            (spread ? ` ± ${Math.round(spread * 100)} %` : ""),
        );
      }
    } catch (e) {
      setResult(status, false, errorText(e));
    }
  });

  const showCommand = () => {
    const n = Math.floor(Number($("fleet-size").value));
    $("fleet-cli").textContent = fleetCommand({
      count: n >= 1 ? n : 1000,
      prefix: $("fleet-prefix").value.trim() || "sim-",
      intervalSec: Number($("fleet-interval").value),
      spread: Number($("fleet-spread").value) / 100,
      wsUrl: $("url-input").value.trim() || (app.info && app.info.wsUrl),
      idScope: document.querySelector('input[name="fleet-ids"]:checked').value === "dps" ? app.info && app.info.dps && app.info.dps.idScope : undefined,
    });
  };
  for (const id of ["fleet-size", "fleet-prefix", "fleet-interval", "fleet-spread", "url-input"]) $(id).addEventListener("input", showCommand);
  for (const r of document.querySelectorAll('input[name="fleet-ids"]')) r.addEventListener("change", showCommand);
  $("fleet-max").textContent = String(MAX_FLEET);
  showCommand();
  $("fleet-cli-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("fleet-cli").textContent);
      $("fleet-cli-copied").textContent = "Copied.";
    } catch {
      // No clipboard permission (plain http on another host): select the text instead.
      getSelection().selectAllChildren($("fleet-cli"));
      $("fleet-cli-copied").textContent = "Selected: copy with Ctrl-C.";
    }
  });

  $("fleet-stop").addEventListener("click", async () => {
    if (!app.fleet) return;
    $("fleet-stop").disabled = true;
    const status = $("fleet-status");
    status.className = "";
    status.textContent = "Stopping…";
    await app.fleet.stop();
    status.textContent = `Stopped ${app.fleet.devices.length} devices.`;
    $("fleet-start").disabled = false;
  });
}

// ---------------------------------------------------------------- boot

async function loadClient() {
  try {
    const mod = await import(PKG_URL);
    await mod.default();
    app.DeviceClient = mod.DeviceClient;
    $("build-note").textContent = "hubwire wasm client loaded";
    // Provision mode needs the dps build (pkg-dps/, served at /pkg/ by scripts/demo.sh and test.sh).
    if (typeof mod.DeviceClient.fromProvisioning !== "function") {
      const radio = document.querySelector('input[name="mode"][value="dps"]');
      radio.disabled = true;
      radio.parentElement.title = "This build has no DeviceClient.fromProvisioning: serve pkg-dps/ (cargo feature dps)";
    }
    document.body.dataset.wasm = "ready";
  } catch (e) {
    document.body.dataset.wasm = "missing";
    showBanner(
      "The wasm client could not be loaded from <code>pkg/</code>. Build it with " +
        "<code>wasm-pack build --target web --release</code> in the repository root, then reload. " +
        `<span class="small">(${String(e && e.message).replace(/[<>&]/g, "")})</span>`,
    );
  }
}

async function loadInfo() {
  try {
    const res = await fetch("/emulator/info", { cache: "no-store" });
    if (!res.ok) return null;
    const info = await res.json();
    return info && info.wsUrl ? info : null;
  } catch {
    return null;
  }
}

function showMode() {
  $("mode-cs").hidden = mode() !== "cs";
  $("mode-token").hidden = mode() !== "token";
  $("mode-dps").hidden = mode() !== "dps";
}

function showDpsKind() {
  const group = dpsKind() === "group";
  $("dps-key-label").textContent = group ? "Group key (the device key is derived in this page)" : "Device key";
  $("dps-group-warning").hidden = !group;
}

function setupConnectPanel() {
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener("change", showMode);
  }
  for (const r of document.querySelectorAll('input[name="dps-kind"]')) {
    r.addEventListener("change", showDpsKind);
  }
  for (const [button, input] of [["cs-show", "cs-input"], ["dps-key-show", "dps-key"]]) {
    $(button).addEventListener("click", () => {
      const field = $(input);
      const show = field.type === "password";
      field.type = show ? "text" : "password";
      $(button).setAttribute("aria-pressed", String(show));
      $(button).textContent = show ? "Hide" : "Show";
    });
  }
  $("connect-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    connect();
  });
  $("disconnect-btn").addEventListener("click", disconnect);
  $("twin-refresh").addEventListener("click", refreshTwin);
  $("reported-send").addEventListener("click", sendReported);
}

async function main() {
  setConn("disconnected", "Disconnected");
  setupConnectPanel();
  buildSensors();
  app.chart = new TelemetryChart($("chart"), {
    onPoints: (n, total) => {
      $("chart-points").textContent = `${total} points`;
      $("chart-empty").hidden = total > 0;
      $("chart").dataset.points = String(total);
    },
  });
  const [info] = await Promise.all([loadInfo(), loadClient()]);
  app.info = info;
  if (info) {
    document.body.dataset.emulator = "true";
    $("origin-note").textContent = `Served by the hubwire emulator · hub ${info.hostName}`;
    if (info.demoDevice && info.demoDevice.connectionString) {
      $("cs-input").value = info.demoDevice.connectionString;
      $("cs-demo").hidden = false;
      $("cs-demo").addEventListener("click", () => {
        $("cs-input").value = info.demoDevice.connectionString;
        $("url-input").value = info.wsUrl;
      });
    }
    $("url-input").value = info.wsUrl;
    $("tok-host").value = info.hostName || "";
    if (info.dps) {
      $("dps-scope").value = info.dps.idScope || "";
      $("enr-scope").textContent = info.dps.idScope || "–";
    }
    for (const id of ["cloud", "fleet", "nav-cloud", "nav-fleet"]) $(id).hidden = false;
    $("svc-cs").value = info.serviceConnectionString || "";
    const demoId = (info.demoDevice && info.demoDevice.deviceId) || "";
    $("cloud-device").value = demoId;
    if (demoId) addKnownDevice(demoId);
    $("svc-cs").addEventListener("change", makeService);
    $("c2d-form").addEventListener("submit", cloudSendC2d);
    $("method-form").addEventListener("submit", cloudInvoke);
    $("desired-form").addEventListener("submit", cloudPatchDesired);
    $("enr-form").addEventListener("submit", cloudCreateEnrollment);
    $("enr-use").addEventListener("click", useEnrollment);
    for (const r of document.querySelectorAll('input[name="enr-kind"]')) {
      r.addEventListener("change", () => {
        $("enr-id-label").textContent = enrollmentKind() === "group" ? "Enrollment group id" : "Registration id";
      });
    }
    $("tele-filter").addEventListener("input", () => $("tele-body").replaceChildren());
    makeService();
    setInterval(() => {
      $("tele-rate").textContent = `${tele.meter.rate().toFixed(1)} msg/s`;
    }, 1000);
    setupFleet();
  }
  document.body.dataset.ready = "true";
}

main();
