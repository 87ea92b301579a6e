// Hostile servers (issue 13 item 3): for every `malformed` variant the emulator has,
// hubwire in Node 22 and in headless Chromium reports a typed, retryable error
// (`disconnected` with a stable code, no `error` event, never INTERNAL = a panic),
// waits out its backoff, connects again and sends; its wasm memory stays bounded,
// measured before and after each case (a 300 MB announced length allocates nothing,
// a flood of 20,000 C2D messages to a slow consumer leaves no backlog in wasm).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { chromiumPage, nodeHubwire, startEmulator } from "./helpers.mjs";
import { hostileCase } from "../../scripts/soak/web/hostile.mjs";

const PROTOCOL = "PROTOCOL_ERROR";
/** variant → the code of the `disconnected` event it causes. */
const PACKET_CASES = {
  badRemainingLength: PROTOCOL,
  oversized: PROTOCOL,
  maxRemainingLength: PROTOCOL,
  length300MB: PROTOCOL,
  unexpectedType: PROTOCOL, // SUBSCRIBE
  connect: PROTOCOL,
  unsubscribe: PROTOCOL,
  pingreq: PROTOCOL,
  disconnect: PROTOCOL,
  pubrel: PROTOCOL,
  reserved0: PROTOCOL,
  reserved15: PROTOCOL,
  unknownPuback: PROTOCOL,
  unknownSuback: PROTOCOL,
  invalidUtf8Topic: PROTOCOL,
  qos3: PROTOCOL,
  // The transport ends mid-packet: the partial packet is dropped, the loss is a disconnect.
  closeMidPacket: "DISCONNECTED",
  // MQTT over WebSocket is binary only: the core ends the connection (Core input 8).
  textFrame: PROTOCOL,
};
/** Growth of the wasm memory one case may cause (pages of 64 KiB are never returned). */
const MAX_GROWTH = 1 << 20;
const FLOOD = 20000;

let env;
const figures = [];

before(async () => {
  env = await startEmulator();
});
after(async () => {
  if (env) await env.stop();
  for (const f of figures) console.log(f);
});

function checkReconnect(variant, rec, codes) {
  assert.equal(rec.failure, undefined, `${variant}: ${rec.failure}`);
  assert.deepEqual(
    rec.disconnected.map((d) => d.code),
    codes,
    `${variant}: ${JSON.stringify(rec.disconnected)}`,
  );
  assert.ok(rec.disconnected.every((d) => d.willRetry), `${variant}: retryable`);
  assert.deepEqual(
    rec.reconnecting.map((r) => r.attempt),
    codes.map((_, i) => i + 1),
    `${variant}: one backoff step per failure: ${JSON.stringify(rec.reconnecting)}`,
  );
  for (const [i, r] of rec.reconnecting.entries()) {
    assert.ok(r.delayMs <= 200 * 2 ** i, `${variant}: delay within the backoff bound: ${JSON.stringify(r)}`);
  }
  const last = rec.reconnecting[rec.reconnecting.length - 1];
  const back = rec.connectedAt[rec.connectedAt.length - 1];
  assert.ok(back >= last.at + last.delayMs - 5, `${variant}: reconnected only after the delay (${back} < ${last.at}+${last.delayMs})`);
  assert.deepEqual(rec.errors, [], `${variant}: no error event (no panic, nothing fatal)`);
  assert.equal(rec.sent, true, `${variant}: the client sends after reconnecting`);
  assert.equal(rec.state, "connected");
}

function checkMemory(runtime, variant, rec, max = MAX_GROWTH) {
  const growth = rec.memoryAfter - rec.memoryBefore;
  figures.push(`hostile ${runtime} ${variant}: wasm memory ${rec.memoryBefore} -> ${rec.memoryAfter} B (+${growth})`);
  assert.ok(growth <= max, `${runtime} ${variant}: wasm memory grew ${growth} B (limit ${max})`);
}

function suite(runtime, runCase) {
  describe(`hostile servers, ${runtime}`, () => {
    let n = 0;
    const opts = async (variant, faults, extra = {}) => {
      const d = await env.device(`hostile-${runtime}-${variant}-${n++}`);
      return {
        connectionString: d.cs,
        url: env.info.wsUrl,
        httpUrl: env.info.httpUrl,
        deviceId: d.id,
        serviceToken: await env.svc.tokens.token(),
        faults,
        ...extra,
      };
    };
    for (const [variant, code] of Object.entries(PACKET_CASES)) {
      test(`${variant}: ${code}, backoff, reconnect, memory bounded`, async () => {
        const rec = await runCase(await opts(variant, [{ kind: "malformed", variant }]));
        checkReconnect(variant, rec, [code]);
        checkMemory(runtime, variant, rec);
      });
    }
    test("connackUnknownCode (twice): PROTOCOL_ERROR per refusal, growing backoff", async () => {
      const faults = [{ kind: "malformed", variant: "connackUnknownCode", code: 6, count: 2 }, { kind: "drop" }];
      const rec = await runCase(await opts("connackUnknownCode", faults, { reconnects: 1 }));
      checkReconnect("connackUnknownCode", rec, ["DISCONNECTED", PROTOCOL, PROTOCOL]);
      checkMemory(runtime, "connackUnknownCode", rec);
    });
    test(`flood: ${FLOOD} C2D messages faster than a slow handler, all delivered, memory bounded`, async () => {
      const faults = [{ kind: "malformed", variant: "flood", count: FLOOD, size: 1024 }];
      const rec = await runCase(await opts("flood", faults, { flood: FLOOD, consumeMs: 0.05 }));
      assert.equal(rec.failure, undefined, rec.failure);
      assert.equal(rec.floodDone, true, `delivered ${rec.c2d} of ${FLOOD}`);
      assert.equal(rec.c2d, FLOOD);
      assert.deepEqual(rec.disconnected, [], "a flood of valid messages is no error");
      assert.deepEqual(rec.errors, []);
      assert.equal(rec.sent, true);
      checkMemory(runtime, "flood", rec, 2 * MAX_GROWTH);
    });
  });
}

suite("node", async (o) => {
  const { hubwire, memory } = await nodeHubwire();
  return hostileCase(hubwire, memory, o);
});

let chromium;
suite("chromium", async (o) => {
  chromium ??= await chromiumPage(env.info);
  return chromium.page.evaluate((x) => window.soak.hostile(x), o);
});
after(async () => {
  if (chromium) {
    const bad = chromium.console.filter((l) => /pageerror|panicked|INTERNAL/.test(l));
    await chromium.close();
    assert.deepEqual(bad, [], "no page error or panic in Chromium");
  }
});
