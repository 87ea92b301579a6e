#!/usr/bin/env node
// The one build of the wasm: `wasm-pack build --release` of the web target into pkg/
// (what the demo serves, the tests load and packaging/build.mjs packs into the npm
// package). wasm-pack runs wasm-opt with the one flag list, Cargo.toml's
// [package.metadata.wasm-pack.profile.release], through the npm binaryen (the shim
// scripts/setup.sh puts first on PATH; Debian's binaryen 108 breaks wasm-bindgen output).
// After the build: the wasm must instantiate through its glue and make a client, and a
// second wasm-opt with the same flags must gain next to nothing (else wasm-pack ran no
// or another wasm-opt).
//
//   node packaging/web.mjs                          # pkg/ (web target)
//   node packaging/web.mjs --target bundler --out-dir target/hubwire-bundler
//   node packaging/web.mjs --check-only [--out-dir DIR]   # only the two checks
//   node packaging/web.mjs --features dps --out-dir pkg-dps   # the provisioning build (hubwire/provisioning)
//
// Used by scripts/test.sh (wasm_build), scripts/demo.sh, scripts/bench.sh and
// packaging/build.mjs. Node 20+, no dependencies beyond the root node_modules' binaryen.

import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const PKG_DIR = join(repo, "pkg");
/** The build with cargo feature `dps` (`DeviceClient.fromProvisioning`), for the `hubwire/provisioning` entry. */
export const PKG_DPS_DIR = join(repo, "pkg-dps");
/**
 * Where buildWasm keeps the cargo output each build came from (`hubwire-hub.wasm`,
 * `hubwire-dps.wasm`): the hub and dps builds share cargo's `hubwire.wasm`, and the
 * names-kept twin (packaging/wasm-modules.mjs) must be made from the right one.
 */
export function cargoWasm(features = null) {
  return join(process.env.CARGO_TARGET_DIR || join(repo, "target"), "wasm32-unknown-unknown", "release", `hubwire-${features || "hub"}.wasm`);
}

/** The npm binaryen's wasm-opt (root devDependency `binaryen`). */
export const WASM_OPT = join(repo, "node_modules", ".bin", "wasm-opt");

/** The wasm-opt flags: Cargo.toml's [package.metadata.wasm-pack.profile.release] `wasm-opt` list, the only copy. */
export function wasmOptFlags() {
  const toml = readFileSync(join(repo, "Cargo.toml"), "utf8");
  const section = toml.split(/^\[package\.metadata\.wasm-pack\.profile\.release\]\s*$/m)[1];
  const m = section && section.match(/^wasm-opt\s*=\s*\[([^\]]*)\]/m);
  if (!m) throw new Error("Cargo.toml has no [package.metadata.wasm-pack.profile.release] wasm-opt = [...]");
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function log(msg) {
  console.error(`[web] ${msg}`);
}

/**
 * `wasm-pack build --release --target TARGET --out-dir OUTDIR --out-name hubwire` with
 * scripts/setup.sh sourced first (its wasm-opt shim on PATH), then `checkBuild`.
 */
export async function buildWasm({ target = "web", outDir = PKG_DIR, features = null } = {}) {
  const args = ["build", repo, "--target", target, "--release", "--out-dir", outDir, "--out-name", "hubwire"];
  if (features) args.push("--", "--features", features);
  log(`wasm-pack ${args.join(" ")}`);
  execFileSync("bash", ["-c", 'source "$0/scripts/setup.sh" && exec wasm-pack "$@"', repo, ...args], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  copyFileSync(join(dirname(cargoWasm()), "hubwire.wasm"), cargoWasm(features));
  return checkBuild({ outDir, target, features });
}

/** Both checks of a wasm-pack output directory; returns `{ wasm, bytes, reOptimised }`. */
export async function checkBuild({ outDir = PKG_DIR, target = "web", features = null } = {}) {
  const wasm = join(outDir, "hubwire_bg.wasm");
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing`);
  if (target === "web") {
    const broken = await instantiates(outDir, readFileSync(wasm), "hubwire.js", { provisioning: features === "dps" });
    if (broken) throw new Error(`${relative(repo, outDir)} does not instantiate: ${broken}`);
    log(`${relative(repo, outDir)}/ loads: initSync + DeviceClient.fromConnectionString ok`);
  }
  const bytes = statSync(wasm).size;
  const reOptimised = reOptimise(wasm);
  if (reOptimised * 100 < bytes * 97) {
    throw new Error(
      `${relative(repo, wasm)} is not optimised: wasm-opt ${wasmOptFlags().join(" ")} shrinks it from ${bytes} to ${reOptimised} B ` +
        "(did wasm-pack run the npm binaryen's wasm-opt? source scripts/setup.sh)",
    );
  }
  log(`${relative(repo, wasm)}: ${bytes} B; a second wasm-opt pass: ${reOptimised} B`);
  return { wasm, bytes, reOptimised };
}

/** Size of `wasm` after one more wasm-opt pass with the same flags. */
function reOptimise(wasm) {
  if (!existsSync(WASM_OPT)) throw new Error(`${WASM_OPT} is missing: run npm ci in ${repo} (scripts/setup.sh)`);
  const dir = mkdtempSync(join(tmpdir(), "hubwire-opt-"));
  try {
    execFileSync(WASM_OPT, [...wasmOptFlags(), wasm, "-o", join(dir, "o.wasm")], { stdio: ["ignore", "inherit", "inherit"] });
    return statSync(join(dir, "o.wasm")).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Instantiates `bytes` through a fresh copy of the `--target web` glue in `glueDir` and makes a
 * client; returns an error message, or null when it works. (Debian's binaryen 108 produced
 * wasm that failed here: "WebAssembly.Table.set(): Argument 1 is invalid for table".)
 */
export async function instantiates(glueDir, bytes, glueName = "hubwire.js", { provisioning = false } = {}) {
  const copy = join(glueDir, `probe-${process.pid}-${Date.now()}.mjs`);
  cpSync(join(glueDir, glueName), copy);
  try {
    const glue = await import(pathToFileURL(copy).href);
    glue.initSync({ module: bytes });
    const client = glue.DeviceClient.fromConnectionString("HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5");
    if (client.state !== "disconnected") return `a new client's state is ${client.state}`;
    client.close();
    if (provisioning !== (typeof glue.DeviceClient.fromProvisioning === "function")) {
      return `DeviceClient.fromProvisioning is ${provisioning ? "missing" : "in the hub build"}`;
    }
    if (provisioning) {
      // Bad options reject typed, before any socket.
      const e = await glue.DeviceClient.fromProvisioning({ idScope: "0ne1" }).then(() => null, (x) => x);
      if (!e || e.code !== "INVALID_ARGUMENT") return `fromProvisioning({idScope}) did not reject INVALID_ARGUMENT: ${e && e.message}`;
    }
    return null;
  } catch (e) {
    return e && e.message ? e.message : String(e);
  } finally {
    rmSync(copy, { force: true });
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const o = { target: "web", outDir: PKG_DIR, checkOnly: false, features: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--target") o.target = argv[++i];
    else if (argv[i] === "--out-dir") o.outDir = resolve(argv[++i]);
    else if (argv[i] === "--check-only") o.checkOnly = true;
    else if (argv[i] === "--features") o.features = argv[++i];
    else throw new Error(`unknown argument ${argv[i]} (usage: packaging/web.mjs [--target web|bundler] [--out-dir DIR] [--features dps] [--check-only])`);
  }
  if (o.checkOnly) await checkBuild(o);
  else await buildWasm(o);
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  main().catch((e) => {
    console.error(`packaging/web.mjs: ${e.message}`);
    process.exit(1);
  });
}
