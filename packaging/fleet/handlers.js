// The user's direct-method handlers (`--methods FILE`): an ES module whose
// exported functions (named exports, or a default-exported object of them)
// answer the method of the same name. Each is called as
// `handler(request, device)` with hubwire's MethodRequest and a small device
// facade (`id`, `index`, `state`, `interval`, `setInterval(sec)`,
// `sendEvent(body, options)`, `reportProperties(patch)`, `client`), and
// returns `{ status, payload }` (or just a payload: status 200), or a Promise
// of it. A handler named `reboot` or `setTelemetryInterval` replaces the built-in.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { FleetError } from "./errors.js";

/** @returns {Promise<Map<string, Function>>} */
export async function loadHandlers(path) {
  let mod;
  try {
    mod = await import(pathToFileURL(resolve(path)).href);
  } catch (e) {
    throw new FleetError("HANDLERS", `cannot load --methods ${path}: ${e.message}`, { cause: e });
  }
  const out = new Map();
  const add = (name, fn) => {
    if (typeof fn === "function") out.set(name, fn);
  };
  if (mod.default && typeof mod.default === "object") for (const [k, v] of Object.entries(mod.default)) add(k, v);
  for (const [k, v] of Object.entries(mod)) if (k !== "default") add(k, v);
  if (!out.size) throw new FleetError("HANDLERS", `--methods ${path} exports no function (export function myMethod(req, device) { … })`);
  for (const name of out.keys()) {
    if (!name || name.length > 128) throw new FleetError("HANDLERS", `--methods ${path}: method name ${JSON.stringify(name)} is not valid`);
  }
  return out;
}
