// How the client notices a connection that is open but not working, and what it
// hands the app after an outage, in Node 22 against the emulator (the fake-clock
// rules are in src/hub/tests/liveness.rs; the text frame is in hostile.test.mjs):
// - a withheld PUBACK ends the connection after `ackTimeoutMs` (TIMEOUT), the
//   message is resent on the next connection and its Promise resolves;
// - the desired properties found newer after a reconnect come as the whole
//   section with `{ full: true }`, so a key deleted during the outage is gone.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { nodeHubwire, sleep, startEmulator } from "./helpers.mjs";

let env;
let hubwire;
before(async () => {
  env = await startEmulator();
  ({ hubwire } = await nodeHubwire());
});
after(async () => env && env.stop());

const fast = { minDelayMs: 50, maxDelayMs: 200, jitter: 0 };

async function until(ms, cond) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (cond()) return true;
  return cond();
}

function record(client) {
  const r = { disconnected: [], connected: 0, desired: [] };
  client.on("disconnected", (e) => r.disconnected.push(e));
  client.on("connected", () => r.connected++);
  client.on("desiredPropertiesUpdate", (patch, info) => r.desired.push({ patch, info }));
  return r;
}

test("a withheld PUBACK ends the connection after ackTimeoutMs; the message is resent and settles", async () => {
  const d = await env.device("liveness-ack");
  const client = hubwire.DeviceClient.fromConnectionString(d.cs, { url: env.info.wsUrl, retry: fast, ackTimeoutMs: 800 });
  const r = record(client);
  after(() => client.close());
  await client.connect();
  await env.svc.request("POST", "/emulator/faults/liveness-ack", { json: { kind: "withholdPuback", count: 1 } });
  const start = Date.now();
  await client.sendEvent("withheld once");
  const took = Date.now() - start;
  assert.deepEqual(r.disconnected.map((e) => [e.code, e.willRetry]), [["TIMEOUT", true]]);
  assert.ok(took >= 750, `settled only after the ack timeout and a reconnect: ${took} ms`);
  assert.equal(r.connected, 2, "connected, then reconnected once");
  const { items } = await env.svc.telemetry({ deviceId: "liveness-ack" });
  const bodies = items.map((t) => t.body);
  assert.ok(bodies.includes("withheld once"), JSON.stringify(bodies));
  // Timely PUBACKs never trip it.
  for (let i = 0; i < 20; i++) await client.sendEvent(`m${i}`);
  assert.equal(r.disconnected.length, 1);
  client.close();
});

test("desired properties after an outage come whole, with full: true; notifications are patches", async () => {
  const d = await env.device("liveness-desired");
  await env.svc.patchDesired("liveness-desired", { a: 1, b: 2 });
  const client = hubwire.DeviceClient.fromConnectionString(d.cs, { url: env.info.wsUrl, retry: fast });
  const r = record(client);
  after(() => client.close());
  await client.connect();
  await client.getTwin(); // desired subscription and baseline in place
  await env.svc.patchDesired("liveness-desired", { c: 3 });
  assert.ok(await until(3000, () => r.desired.length === 1), "notification");
  assert.equal(r.desired[0].info.full, false);
  assert.equal(r.desired[0].patch.c, 3);
  // Offline while `a` is deleted: the hub cannot notify, the reconnect GET finds it.
  await env.svc.request("POST", "/emulator/faults/liveness-desired", { json: { kind: "serverUnavailable", count: 3 } });
  await env.svc.request("POST", "/emulator/faults/liveness-desired", { json: { kind: "drop" } });
  await env.svc.patchDesired("liveness-desired", { a: null });
  assert.ok(await until(5000, () => r.desired.length === 2), `update after the reconnect: ${JSON.stringify(r.desired)}`);
  const { patch, info } = r.desired[1];
  assert.equal(info.full, true);
  assert.equal(info.version, patch.$version);
  assert.equal("a" in patch, false, "the deleted key is absent");
  assert.deepEqual([patch.b, patch.c], [2, 3]);
  client.close();
});
