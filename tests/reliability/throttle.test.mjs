// The emulator's per-device CONNECT throttle (docs/reliability.md, "Connect throttling";
// default --connect-throttle 2:20: bursts of 20, then 2 per second, beyond that CONNACK 3).
// A client configured to retry at once makes a reconnect storm the hub visibly refuses;
// hubwire's default backoff stays under the limit even when every connection is dropped
// right after CONNACK, or every CONNECT is refused.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { nodeHubwire, sleep, startEmulator } from "./helpers.mjs";

let env;
let hubwire;
before(async () => {
  env = await startEmulator(); // the binary's default throttle
  ({ hubwire } = await nodeHubwire());
});
after(async () => env && env.stop());

/** Runs `ms` with a client whose every connection the hub drops right after CONNACK. */
async function dropEveryConnection(id, retry, ms) {
  const d = await env.device(id);
  const client = hubwire.DeviceClient.fromConnectionString(d.cs, { url: env.info.wsUrl, retry });
  const codes = {};
  const attempts = [];
  let connects = 0;
  client.on("disconnected", (e) => (codes[e.code] = (codes[e.code] || 0) + 1));
  client.on("reconnecting", (e) => attempts.push(e.attempt));
  client.on("connected", () => {
    connects++;
    env.svc.request("POST", `/emulator/faults/${id}`, { json: { kind: "drop" } }).catch(() => {});
  });
  await client.connect();
  await sleep(ms);
  client.close();
  const info = await env.svc.connectionInfo(id);
  return { connects, codes, info, attempts };
}

test("a client that retries at once storms; the hub refuses the excess with CONNACK 3", async () => {
  const r = await dropEveryConnection("storm", { minDelayMs: 0, maxDelayMs: 0 }, 3000);
  console.log(`storm: ${r.info.connections} accepted, ${r.info.throttledConnects} refused in 3 s; codes ${JSON.stringify(r.codes)}`);
  assert.ok(r.info.throttledConnects > 20, `the storm is visible: ${JSON.stringify(r.info)}`);
  assert.ok(r.codes.SERVER_UNAVAILABLE > 0, "the client sees the refusals as SERVER_UNAVAILABLE");
  assert.ok(r.info.connections <= 20 + 2 * 3 + 1, `accepted stays within burst + rate: ${r.info.connections}`);
});

test("hubwire's default backoff stays under the limit when every connection is dropped", async () => {
  const r = await dropEveryConnection("backoff-drop", undefined, 10000);
  console.log(`default backoff, dropped on connect: ${r.info.connections} connections in 10 s, ${r.info.throttledConnects} refused`);
  // Delays are uniform in [0, 1 s], [0, 2 s], … (full jitter): at least 3 connects in 10 s.
  assert.ok(r.connects >= 3, `it kept reconnecting: ${r.connects}`);
  // A connection shorter than 10 s does not restart the backoff: every drop is one more step.
  assert.deepEqual(r.attempts, r.attempts.map((_, i) => i + 1), `attempts ${r.attempts}`);
  assert.equal(r.info.throttledConnects, 0, JSON.stringify(r.info));
});

test("hubwire's default backoff stays under the limit when every CONNECT is refused", async () => {
  const d = await env.device("backoff-refused");
  const client = hubwire.DeviceClient.fromConnectionString(d.cs, { url: env.info.wsUrl });
  const attempts = [];
  client.on("reconnecting", (e) => attempts.push(e.attempt));
  await client.connect();
  await env.svc.request("POST", "/emulator/faults/backoff-refused", { json: { kind: "serverUnavailable", count: 1000 } });
  await env.svc.request("POST", "/emulator/faults/backoff-refused", { json: { kind: "drop" } });
  await sleep(10000);
  client.close();
  const info = await env.svc.connectionInfo("backoff-refused");
  console.log(`default backoff, CONNACK 3 to every CONNECT: ${attempts.length} attempts in 10 s, ${info.throttledConnects} throttled`);
  assert.ok(attempts.length >= 3, `attempts ${attempts}`);
  assert.deepEqual(attempts, attempts.map((_, i) => i + 1), "each refusal is one more backoff step");
  assert.equal(info.throttledConnects, 0);
});
