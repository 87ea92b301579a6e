// Finds hubwire's DeviceClient for the fleet: `--client PATH` (or
// HUBWIRE_FLEET_CLIENT) first; then the package this CLI ships in
// (node_modules/hubwire/fleet/ → ../node.js); then, in the repository,
// `pkg/` (wasm-pack --target web output) and `pkg-npm/hubwire/`.

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FleetError } from "./errors.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Candidate locations, most specific first. */
export function clientCandidates(explicit) {
  const out = [];
  if (explicit) out.push(resolve(explicit));
  if (process.env.HUBWIRE_FLEET_CLIENT) out.push(resolve(process.env.HUBWIRE_FLEET_CLIENT));
  out.push(join(here, "..", "node.js"));
  const repo = resolve(here, "..", "..");
  out.push(join(repo, "pkg"), join(repo, "pkg-npm", "hubwire", "node.js"));
  return out;
}

/** Resolves which client to load: `{ kind: "module" | "web", path }`. */
export function findClient(explicit) {
  const tried = [];
  for (const c of clientCandidates(explicit)) {
    tried.push(c);
    if (!existsSync(c)) {
      if (explicit && c === resolve(explicit)) break;
      continue;
    }
    if (statSync(c).isDirectory()) {
      if (existsSync(join(c, "node.js"))) return { kind: "module", path: join(c, "node.js") };
      if (existsSync(join(c, "hubwire.js")) && existsSync(join(c, "hubwire_bg.wasm"))) return { kind: "web", path: c };
      if (explicit && c === resolve(explicit)) break;
      continue;
    }
    return { kind: "module", path: c };
  }
  throw new FleetError(
    "CLIENT",
    `cannot find hubwire's DeviceClient (tried ${tried.join(", ")}). In the repository build it first: ` +
      "`wasm-pack build --target web --release` (pkg/) or `node packaging/build.mjs`; or pass --client DIR_OR_ENTRY.",
  );
}

/** Imports the client found by findClient; returns its DeviceClient class. */
export async function loadClient(found) {
  try {
    if (found.kind === "web") {
      const glue = await import(pathToFileURL(join(found.path, "hubwire.js")).href);
      glue.initSync({ module: readFileSync(join(found.path, "hubwire_bg.wasm")) });
      return glue.DeviceClient;
    }
    const mod = await import(pathToFileURL(found.path).href);
    if (typeof mod.DeviceClient !== "function") throw new Error(`${found.path} exports no DeviceClient`);
    return mod.DeviceClient;
  } catch (e) {
    if (e instanceof FleetError) throw e;
    throw new FleetError("CLIENT", `cannot load hubwire from ${found.path}: ${e.message}`, { cause: e });
  }
}

/**
 * hubwire/provisioning's DeviceClient (with fromProvisioning) beside the client
 * findClient found: provisioning-node.js next to a node.js entry, or the dps
 * build `pkg-dps/` next to a wasm-pack `pkg/` directory.
 */
export async function loadProvisioning(found) {
  let alt;
  if (found.kind === "web") alt = { kind: "web", path: join(dirname(found.path), `${basename(found.path)}-dps`) };
  else alt = { kind: "module", path: join(dirname(found.path), "provisioning-node.js") };
  const there = alt.kind === "web" ? existsSync(join(alt.path, "hubwire_bg.wasm")) : existsSync(alt.path);
  if (!there) {
    throw new FleetError(
      "CLIENT",
      `DPS needs hubwire/provisioning beside ${found.path} (looked for ${alt.path}). In the repository: ` +
        "`./scripts/test.sh wasm_build` builds pkg-dps/, or `node packaging/build.mjs`.",
    );
  }
  const DeviceClient = await loadClient(alt);
  if (typeof DeviceClient.fromProvisioning !== "function") throw new FleetError("CLIENT", `${alt.path} has no DeviceClient.fromProvisioning`);
  return DeviceClient;
}
