// Direct-method handlers for `hubwire fleet --methods examples/fleet/methods.mjs`.
// Each export answers the method of its name on every simulated device:
// handler(request, device) → { status, payload } (or just the payload: status 200).

/** `getConfig`: what this simulated device is doing. */
export function getConfig(req, device) {
  return { status: 200, payload: { id: device.id, index: device.index, interval: device.interval, state: device.state } };
}

/** `burst` {count}: send `count` extra messages now (at most 100). */
export async function burst(req, device) {
  const count = Math.min(100, Math.max(1, Number(req.payload && req.payload.count) || 10));
  await Promise.all(Array.from({ length: count }, (_, i) => device.sendEvent({ burst: i, of: count })));
  return { sent: count };
}

/** `setInterval` {interval}: like the built-in setTelemetryInterval, and reports it. */
export async function setInterval(req, device) {
  device.setInterval(req.payload && req.payload.interval);
  await device.reportProperties({ interval: device.interval });
  return { interval: device.interval };
}
