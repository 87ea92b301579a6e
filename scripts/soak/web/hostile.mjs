// One hostile-server case (tests/reliability/hostile.test.mjs): a connected hubwire
// client, a `malformed` fault from the emulator, and a record of what the client did:
// the typed error it reported, its reconnect attempts and their backoff, whether it
// panicked (an `error` with code INTERNAL), and its wasm memory before and after.
// Runs unchanged in Node 22 and in a browser page; it imports nothing.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(ms, fn) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (fn()) return true;
    await sleep(20);
  }
  return false;
}

/**
 * @param hubwire  the hubwire module
 * @param memory   () => bytes of the wasm linear memory
 * @param o        { connectionString, url, httpUrl, deviceId, serviceToken, faults: [body, ...],
 *                   reconnects: how many `connected` events to wait for after the faults,
 *                   flood: messages expected (flood case), consumeMs: busy time per message }
 */
export async function hostileCase(hubwire, memory, o) {
  const rec = { disconnected: [], reconnecting: [], errors: [], connectedAt: [], c2d: 0, sent: false };
  const t0 = Date.now();
  const client = hubwire.DeviceClient.fromConnectionString(o.connectionString, {
    url: o.url,
    retry: { minDelayMs: 200, maxDelayMs: 2000 },
  });
  client.on("connected", () => rec.connectedAt.push(Date.now() - t0));
  client.on("disconnected", (e) => rec.disconnected.push({ code: e.code, willRetry: e.willRetry, reason: e.reason, at: Date.now() - t0 }));
  client.on("reconnecting", (e) => rec.reconnecting.push({ attempt: e.attempt, delayMs: e.delayMs, at: Date.now() - t0 }));
  client.on("error", (e) => rec.errors.push({ code: e.code, message: String(e.message) }));
  client.onMessage(() => {
    rec.c2d++;
    // A slow consumer: the hub sends faster than this handler returns.
    const end = performance.now() + (o.consumeMs || 0);
    while (performance.now() < end) {
      // busy
    }
  });
  try {
    await client.connect();
    await sleep(100); // subscriptions settle
    rec.memoryBefore = memory();
    for (const body of o.faults) {
      const r = await fetch(`${o.httpUrl}/emulator/faults/${encodeURIComponent(o.deviceId)}`, {
        method: "POST",
        headers: { Authorization: o.serviceToken, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      rec.faultStatus = r.status;
      if (!r.ok) throw new Error(`fault ${JSON.stringify(body)}: HTTP ${r.status} ${await r.text()}`);
    }
    const want = 1 + (o.reconnects ?? 1);
    if (o.flood) {
      rec.floodDone = await until(60000, () => rec.c2d >= o.flood);
    } else {
      rec.reconnected = await until(30000, () => rec.connectedAt.length >= want);
    }
    await client.sendEvent({ after: "hostile" }, { messageId: `after-${o.faults[0].variant}` });
    rec.sent = true;
    rec.memoryAfter = memory();
    rec.state = client.state;
  } catch (e) {
    rec.failure = `${e.code || ""} ${e.message || e}`;
  } finally {
    client.close();
  }
  return rec;
}
