// What real browsers do to a page's client, through CDP in headless Chromium against the
// emulator: the page frozen (Page.setWebLifecycleState) for longer than the keep-alive,
// and the network taken offline and back (Network.emulateNetworkConditions). Each time
// the client notices, reconnects and loses nothing queued: every QoS 1 message sent
// before or during the outage reaches the emulator and its Promise resolves. Going online
// makes a client that is waiting out its backoff try at once (the `online` event).

import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, withEmulatorAndBrowser } from "./harness.mjs";
import { launchChromiumFreezable } from "../support/chromium.mjs";

let emu, chromium, service;
withEmulatorAndBrowser((e) => ({ emu, browser: chromium, service } = e), { launch: launchChromiumFreezable });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A page of the emulator's origin (a loopback page may open a loopback WebSocket) with a
 * connected client for a new device in `window.T`: `T.log` [ms, event, detail] of its events,
 * `T.send(id)` a QoS 1 message with that messageId whose outcome lands in `T.results[id]`.
 */
async function clientPage(name, options) {
  const deviceId = `realities-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const device = await service.ensureDevice(deviceId);
  const cs = `HostName=${service.hostName};DeviceId=${deviceId};SharedAccessKey=${device.authentication.symmetricKey.primaryKey}`;
  const page = await chromium.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${emu.httpUrl}/emulator/info`);
  await page.evaluate(
    async ({ cs, options }) => {
      const hubwire = await import("/pkg/hubwire.js");
      await hubwire.default();
      const client = hubwire.DeviceClient.fromConnectionString(cs, options);
      const t0 = Date.now();
      const T = (window.T = { client, log: [], results: {}, online: 0 });
      for (const e of ["connected", "disconnected", "reconnecting", "error"]) {
        client.on(e, (v) => T.log.push([Date.now() - t0, e, v ? { code: v.code, willRetry: v.willRetry, delayMs: v.delayMs } : null]));
      }
      addEventListener("online", () => T.log.push([Date.now() - t0, "online", null]));
      addEventListener("offline", () => T.log.push([Date.now() - t0, "offline", null]));
      T.now = () => Date.now() - t0;
      T.send = (id) => {
        T.results[id] = "pending";
        client.sendEvent({ id }, { messageId: id, qos: 1 }).then(
          () => (T.results[id] = "ok"),
          (e) => (T.results[id] = `failed: ${e.code}`),
        );
      };
      await client.connect();
    },
    { cs, options: { url: emu.info.wsUrl, ...options } },
  );
  const cdp = await chromium.context.newCDPSession(page);
  return { page, cdp, deviceId, errors };
}

const log = (page) => page.evaluate(() => window.T.log);
const results = (page) => page.evaluate(() => window.T.results);

/** Every messageId the emulator holds for the device (duplicates kept). */
async function storedIds(deviceId) {
  const r = await service.telemetry({ deviceId, limit: 1000 });
  return r.items.map((i) => i.systemProperties.messageId);
}

/** Waits until every send settled; asserts each resolved and reached the emulator. */
async function nothingLost(page, deviceId, ids) {
  await eventually(async () => Object.values(await results(page)).every((v) => v !== "pending"), "every send to settle", 20000);
  assert.deepEqual(await results(page), Object.fromEntries(ids.map((id) => [id, "ok"])), "every Promise resolved");
  const stored = await storedIds(deviceId);
  for (const id of ids) assert.ok(stored.includes(id), `${id} is missing from the emulator (it has ${stored.join(", ")})`);
  return stored;
}

test("page_frozen_longer_than_keepalive_reconnects_loses_nothing_succeeds", async () => {
  // keep-alive 2 s: the hub drops a silent connection after 3 s; the page is frozen for 4 s.
  const { page, cdp, deviceId, errors } = await clientPage("freeze", {
    keepAliveSeconds: 2,
    retry: { minDelayMs: 100, maxDelayMs: 1000, jitter: 0 },
  });
  try {
    // Two messages in flight at the freeze: the hub got them but keeps their PUBACKs.
    await service.request("POST", `/emulator/faults/${encodeURIComponent(deviceId)}`, { json: { kind: "withholdPuback", count: 2 } });
    await page.evaluate(() => ["before-1", "before-2"].forEach(window.T.send));
    await eventually(async () => (await storedIds(deviceId)).length === 2, "the hub to receive both");
    const frozenAt = await page.evaluate(() => window.T.now());
    await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
    await sleep(4000);
    // While frozen no page task runs: the keep-alive timer is stopped with it.
    const conn = await service.connectionInfo(deviceId);
    assert.equal(conn.connected, false, "the hub no longer sees the frozen page's connection");
    await cdp.send("Page.setWebLifecycleState", { state: "active" });
    // Sent the moment the page thaws, before the client has noticed anything.
    await page.evaluate(() => ["after-1", "after-2"].forEach(window.T.send));
    await nothingLost(page, deviceId, ["before-1", "before-2", "after-1", "after-2"]);
    const events = (await log(page)).filter(([t]) => t > frozenAt);
    const lost = events.find(([, e]) => e === "disconnected");
    assert.ok(lost, `the client noticed: ${JSON.stringify(events)}`);
    assert.equal(lost[2].willRetry, true);
    assert.ok(events.some(([t, e]) => e === "connected" && t > lost[0]), `reconnected: ${JSON.stringify(events)}`);
    assert.equal(await page.evaluate(() => window.T.client.state), "connected");
    assert.deepEqual(errors, []);
  } finally {
    await page.evaluate(() => window.T.client.close()).catch(() => {});
    await page.close();
  }
});

test("network_offline_then_online_reconnects_at_once_loses_nothing_succeeds", async () => {
  // A 10 s backoff: going online must not wait it out.
  const { page, cdp, deviceId, errors } = await clientPage("offline", {
    keepAliveSeconds: 2,
    retry: { minDelayMs: 10000, maxDelayMs: 10000, jitter: 0 },
  });
  const network = (offline) => cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  try {
    await cdp.send("Network.enable");
    await page.evaluate(() => window.T.send("online-1"));
    await eventually(async () => (await results(page))["online-1"] === "ok", "the first message");
    await network(true);
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    // Into the dead connection, before the client noticed ...
    await page.evaluate(() => ["offline-1", "offline-2"].forEach(window.T.send));
    await eventually(async () => (await log(page)).some(([, e]) => e === "reconnecting"), "the client to notice (keep-alive)", 10000);
    // ... and queued while it knows it is offline, during its 10 s backoff.
    await page.evaluate(() => ["offline-3", "offline-4"].forEach(window.T.send));
    await sleep(1000);
    const [backoffAt, , backoff] = (await log(page)).findLast(([, e]) => e === "reconnecting");
    assert.equal(backoff.delayMs, 10000);
    const onlineAt = await page.evaluate(() => window.T.now());
    await network(false);
    const connectedAt = await eventually(async () => (await log(page)).find(([t, e]) => e === "connected" && t > onlineAt)?.[0], "a reconnect after going online", 8000);
    const events = await log(page);
    assert.ok(events.some(([t, e]) => e === "online" && t >= onlineAt), "the page saw `online`");
    assert.ok(connectedAt - onlineAt < 3000, `connected ${connectedAt - onlineAt} ms after going online`);
    assert.ok(connectedAt < backoffAt + 10000 - 4000, `connected at ${connectedAt} ms: the 10 s backoff from ${backoffAt} ms was waited out`);
    await nothingLost(page, deviceId, ["online-1", "offline-1", "offline-2", "offline-3", "offline-4"]);
    assert.equal(await page.evaluate(() => window.T.client.state), "connected");
    assert.deepEqual(errors, []);
  } finally {
    await network(false).catch(() => {});
    await page.evaluate(() => window.T.client.close()).catch(() => {});
    await page.close();
  }
});

test("online_event_while_connected_or_closed_is_harmless_succeeds", async () => {
  const { page, deviceId, errors } = await clientPage("harmless", {});
  try {
    const before = (await service.connectionInfo(deviceId)).connections;
    await page.evaluate(() => {
      dispatchEvent(new Event("online"));
      dispatchEvent(new Event("online"));
    });
    await page.evaluate(() => window.T.send("still-1"));
    await nothingLost(page, deviceId, ["still-1"]);
    assert.equal((await service.connectionInfo(deviceId)).connections, before, "no new connection");
    // After close() the client no longer listens: an `online` event does nothing.
    await page.evaluate(() => {
      window.T.client.close();
      dispatchEvent(new Event("online"));
    });
    await sleep(300);
    assert.equal(await page.evaluate(() => window.T.client.state), "closed");
    assert.equal((await service.connectionInfo(deviceId)).connected, false);
    assert.deepEqual((await log(page)).filter(([, e]) => e === "error"), []);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});
