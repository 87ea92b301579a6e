// `pnp(client)`: the IoT Plug and Play conventions over a `DeviceClient`'s twin and
// methods (npm entry `hubwire/pnp`; docs/js-api.md). Plain JS with no wasm: it works
// with the client of `hubwire` and of `hubwire/provisioning` alike.
//
// - `onProperty(component, name, handler)` / `onProperty(component, handler)`: writable
//   properties, split per component (the default component is `null`). A desired member
//   is a component when its value is an object carrying `"__t": "c"`, or when handlers
//   are registered for that component (some services omit the marker).
// - Each value goes to its handler, then is acknowledged as a reported property
//   `{value, ac, av, ad}` (inside `{component: {"__t": "c", …}}`): `ac` 200 unless the
//   handler returns one, `value` the desired value unless returned, `av` the desired
//   `$version`; a throw (or rejection) acknowledges 500 with `ad` = its message. A
//   version already handled is skipped; one property's handlers run in order, so the
//   later value is acknowledged last.
// - `start()` listens for desired patches, fetches the twin, and hands every desired
//   value whose acknowledgement is missing or older than the desired `$version` to its
//   handler (the catch-up of values set while the device was offline).
// - `onCommand(component, handler)`: commands `{component}*{command}` go to that
//   component's handler (`null`: commands without a component); others answer 501.
// - `reportProperties(component, props)`: a component's read-only properties.

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const messageOf = (e) => (e && e.message ? e.message : String(e));

export function pnp(client) {
  if (!client || typeof client.updateReportedProperties !== "function" || typeof client.onMethod !== "function") {
    const e = new TypeError("pnp(client) needs a DeviceClient");
    e.name = "HubwireError";
    e.code = "INVALID_ARGUMENT";
    e.retryable = false;
    throw e;
  }
  const props = new Map(), cmds = new Map(), seen = new Map(), chains = new Map();
  const key = (c, n) => (c || "") + "*" + (n || "");
  const wrap = (c, body) => (c ? { [c]: { __t: "c", ...body } } : body);
  let routed = false, listening = false;

  const run = async (c, n, value, version) => {
    const k = key(c, n), handler = props.get(k) || props.get(key(c));
    if (!handler || (seen.get(k) ?? -1) >= version) return;
    seen.set(k, version);
    let a;
    try {
      a = (await handler(value, { component: c || undefined, name: n, version })) || {};
    } catch (e) {
      a = { ac: 500, ad: messageOf(e) };
    }
    const ack = { value: "value" in a ? a.value : value, ac: a.ac ?? 200, av: version };
    if (a.ad !== undefined) ack.ad = a.ad;
    await client.updateReportedProperties(wrap(c, { [n]: ack }));
  };
  const queue = (c, n, v, version) => {
    const k = key(c, n), p = (chains.get(k) || Promise.resolve()).then(() => run(c, n, v, version));
    chains.set(k, p.catch(() => {}));
    return p;
  };
  const handle = (desired, version, reported) => {
    const todo = [];
    for (const [k, v] of Object.entries(desired || {})) {
      if (k[0] === "$") continue;
      if (isObject(v) && (v.__t === "c" || [...props.keys()].some((p) => p.startsWith(k + "*")))) {
        for (const [n, x] of Object.entries(v)) if (n !== "__t" && n[0] !== "$") todo.push([k, n, x]);
      } else todo.push([null, k, v]);
    }
    return Promise.all(todo.filter(([c, n]) => {
      const a = reported && (c ? reported[c] || {} : reported)[n];
      return !(isObject(a) && a.av >= version);
    }).map(([c, n, v]) => queue(c, n, v, version)));
  };

  const device = {
    onProperty(component, name, handler) {
      if (typeof name === "function") props.set(key(component), name);
      else props.set(key(component, name), handler);
      return device;
    },
    onCommand(component, handler) {
      cmds.set(component || "", handler);
      if (!routed) {
        routed = true;
        client.onMethod((req) => {
          const f = cmds.get(req.component || "");
          return f ? f(req) : { status: 501, payload: { message: "no handler for command " + req.name } };
        });
      }
      return device;
    },
    reportProperties: (component, p) => client.updateReportedProperties(wrap(component, p)),
    async start() {
      if (!listening) {
        listening = true;
        client.onDesiredPropertiesUpdate((p) =>
          handle(p, p.$version).catch((e) => console.error("hubwire pnp: acknowledging failed:", e)));
      }
      const t = await client.getTwin();
      await handle(t.desired, t.desired.$version, t.reported);
    },
  };
  return device;
}
