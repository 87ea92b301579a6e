#!/usr/bin/env node
// Assembles the npm package `hubwire` from the web build in pkg/ (packaging/web.mjs:
// `wasm-pack build --target web --release`, wasm-opt with Cargo.toml's flags), minifies
// its JavaScript (packaging/minify.mjs) and packs it with `npm pack`.
//
//   node packaging/build.mjs                  # build pkg/ (packaging/web.mjs), assemble pkg-npm/hubwire, pack
//   node packaging/build.mjs --wasm-dir DIR   # reuse an existing web build in DIR (e.g. pkg)
//   node packaging/build.mjs --dps-wasm-dir DIR   # reuse the `--features dps` web build in DIR (e.g. pkg-dps)
//   node packaging/build.mjs --no-pack        # assemble only
//   node packaging/build.mjs --no-minify      # keep the JS as wasm-bindgen wrote it (debugging)
//   node packaging/build.mjs --out DIR        # output root (default: <repo>/pkg-npm)
//
// The wasm is in the package twice: wasm/ (the hub client, entry `hubwire`) and
// wasm-dps/ (built with cargo feature `dps`: the same plus `DeviceClient.fromProvisioning`,
// entry `hubwire/provisioning`); a page loads one of them. `hubwire/pnp` is plain JS
// (src/pnp.js). docs/size.md has both budgets.
//
// Output: <out>/hubwire/ (the package directory), <out>/hubwire-<version>.tgz,
// <out>/sizes.json. Prints the sizes (packaging/sizes.mjs checks them against the budget).
// Runs on Node 20+; esbuild and terser come from the root node_modules.

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { minifyPackage } from "./minify.mjs";
import { formatParts, packageParts, sizeOfFile } from "./sizes.mjs";
import { buildWasm, instantiates, PKG_DIR, PKG_DPS_DIR } from "./web.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");

// Names the wasm-bindgen `--target web` glue exports for initialisation (the
// package initialises itself) and `Core`, the core the client object drives
// (src/wasm/core.rs): these stay out of the package's public surface.
const INIT_NAMES = new Set(["default", "initSync", "InitInput", "InitOutput", "SyncInitInput", "__wbg_init", "Core", "DpsCore"]);
// The provisioning entries: made from the hub entries with wasm/ → wasm-dps/.
const DPS_ENTRIES = [["browser.js", "provisioning.js"], ["node.js", "provisioning-node.js"]];

function parseArgs(argv) {
  const args = {
    wasmDir: process.env.HUBWIRE_WASM_DIR || null,
    dpsWasmDir: process.env.HUBWIRE_DPS_WASM_DIR || null,
    out: join(repo, "pkg-npm"),
    pack: true,
    minify: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--wasm-dir") args.wasmDir = resolve(argv[++i]);
    else if (a === "--dps-wasm-dir") args.dpsWasmDir = resolve(argv[++i]);
    else if (a === "--out") args.out = resolve(argv[++i]);
    else if (a === "--no-pack") args.pack = false;
    else if (a === "--no-minify") args.minify = false;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

function run(cmd, args, opts = {}) {
  console.error(`$ ${cmd} ${args.join(" ")}`);
  return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", ...opts });
}

function cargoVersion() {
  const toml = readFileSync(join(repo, "Cargo.toml"), "utf8");
  const pkg = toml.split(/^\[package\]\s*$/m)[1];
  const m = pkg && pkg.match(/^version\s*=\s*"([^"]+)"/m);
  if (!m) throw new Error("no [package] version in Cargo.toml");
  return m[1];
}

/** Export names of the wasm-bindgen glue: values from the JS module itself, types from its .d.ts. */
async function surface(wasmDir) {
  // A query makes it a fresh module: the glue may have been rewritten (minified) since the last import.
  const glue = await import(`${pathToFileURL(join(wasmDir, "hubwire.js")).href}?surface=${Date.now()}`);
  const values = Object.keys(glue).filter((n) => !INIT_NAMES.has(n)).sort();
  const dts = readFileSync(join(wasmDir, "hubwire.d.ts"), "utf8");
  const types = new Set();
  const re = /^\s*export\s+(?:declare\s+)?(?:abstract\s+)?(type|interface|class|enum|function|const|let)\s+([A-Za-z_$][\w$]*)/gm;
  for (const m of dts.matchAll(re)) {
    if (!INIT_NAMES.has(m[2]) && !values.includes(m[2])) {
      if (m[1] === "type" || m[1] === "interface") types.add(m[2]);
      else throw new Error(`hubwire.d.ts declares value ${m[2]} that the glue does not export`);
    }
  }
  for (const v of values) {
    if (!new RegExp(`\\b${v}\\b`).test(dts)) throw new Error(`glue exports ${v} but hubwire.d.ts does not declare it`);
  }
  if (!values.includes("DeviceClient")) throw new Error("the wasm glue does not export DeviceClient");
  return { values, types: [...types].sort() };
}

/**
 * The package may only import its own files and `node:` builtins (node.js entry; the
 * `hubwire fleet` CLI under fleet/, which is Node-only), and the wasm only "wbg"-style glue.
 */
function checkImports(pkgDir) {
  const problems = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".js")) {
        // Comments may show usage (`import … from "hubwire"`); only code counts.
        const src = readFileSync(p, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
        for (const m of src.matchAll(/(?:^|[\s;}])(?:import|export)\s*[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm)) {
          const spec = m[1] || m[2] || m[3];
          const rel = relative(pkgDir, p);
          const fleet = rel.startsWith("fleet/");
          if (spec.startsWith("./") || (spec.startsWith("../") && !fleet)) continue;
          if (fleet && spec === "../node.js") continue;
          if ((rel === "node.js" || rel === "provisioning-node.js") && spec === "node:fs/promises") continue;
          if (fleet && spec.startsWith("node:")) continue;
          problems.push(`${rel} imports ${spec}`);
        }
        const nodeOnly = p.endsWith("node.js") || p.endsWith("provisioning-node.js") || relative(pkgDir, p).startsWith("fleet/");
        if (/\brequire\s*\(|\bBuffer\b|\bprocess\.(env|nextTick|versions)/.test(src) && !nodeOnly) {
          problems.push(`${relative(pkgDir, p)} uses a Node global (require/Buffer/process)`);
        }
      }
    }
  };
  walk(pkgDir);
  for (const sub of ["wasm", "wasm-dps"]) {
    const mod = new WebAssembly.Module(readFileSync(join(pkgDir, sub, "hubwire_bg.wasm")));
    for (const imp of WebAssembly.Module.imports(mod)) {
      if (imp.module === "env") problems.push(`${sub}/hubwire_bg.wasm imports env.${imp.name}`);
    }
  }
  if (problems.length) throw new Error(`package import check failed:\n  ${problems.join("\n  ")}`);
}

function listFiles(dir, base = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, base));
    else out.push(relative(base, p));
  }
  return out.sort();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const version = cargoVersion();
  if (!args.wasmDir) await buildWasm({ outDir: PKG_DIR });
  if (!args.dpsWasmDir) await buildWasm({ outDir: PKG_DPS_DIR, features: "dps" });
  const wasmDir = args.wasmDir || PKG_DIR;
  const dpsWasmDir = args.dpsWasmDir || PKG_DPS_DIR;
  for (const dir of [wasmDir, dpsWasmDir]) {
    for (const f of ["hubwire.js", "hubwire.d.ts", "hubwire_bg.wasm"]) {
      if (!existsSync(join(dir, f))) throw new Error(`${dir} has no ${f}: not wasm-pack --target web output?`);
    }
  }

  const pkgDir = join(args.out, "hubwire");
  rmSync(pkgDir, { recursive: true, force: true });
  mkdirSync(join(pkgDir, "wasm"), { recursive: true });

  // The glue, its types, the wasm and any inline_js snippets, under wasm/ (and the dps build's under wasm-dps/).
  for (const [from, sub] of [[wasmDir, "wasm"], [dpsWasmDir, "wasm-dps"]]) {
    mkdirSync(join(pkgDir, sub), { recursive: true });
    for (const f of ["hubwire.js", "hubwire.d.ts", "hubwire_bg.wasm"]) cpSync(join(from, f), join(pkgDir, sub, f));
    if (existsSync(join(from, "snippets"))) cpSync(join(from, "snippets"), join(pkgDir, sub, "snippets"), { recursive: true });
  }

  // package.json (with "type": "module") first, so that importing the copied glue is plain ESM.
  const pkg = JSON.parse(readFileSync(join(here, "package.template.json"), "utf8"));
  pkg.version = version;
  const writePkg = () => writeFileSync(join(pkgDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  writePkg();

  const { values, types } = await surface(join(pkgDir, "wasm"));
  const dpsSurface = await surface(join(pkgDir, "wasm-dps"));
  if (dpsSurface.values.join() !== values.join() || types.some((t) => !dpsSurface.types.includes(t))) {
    throw new Error(`the dps build's exports differ from the hub build's: ${dpsSurface.values} vs ${values}`);
  }
  const wasmBytes = readFileSync(join(pkgDir, "wasm", "hubwire_bg.wasm"));
  const dpsBytes = readFileSync(join(pkgDir, "wasm-dps", "hubwire_bg.wasm"));
  const loads = async () => {
    const hub = await instantiates(join(pkgDir, "wasm"), wasmBytes);
    if (hub) return hub;
    return instantiates(join(pkgDir, "wasm-dps"), dpsBytes, "hubwire.js", { provisioning: true });
  };
  const unminified = await loads();
  if (unminified) throw new Error(`the wasm-pack output does not instantiate: ${unminified}`);
  const jsExports = `export { ${values.join(", ")} } from "./wasm/hubwire.js";\n`;
  for (const entry of ["browser.js", "node.js", "workerd.js"]) {
    const src = readFileSync(join(here, "entries", entry), "utf8");
    if (!src.includes("/*HUBWIRE_EXPORTS*/")) throw new Error(`entries/${entry} lacks the exports marker`);
    writeFileSync(join(pkgDir, entry), src.replace("/*HUBWIRE_EXPORTS*/\n", jsExports));
  }
  for (const [from, entry] of DPS_ENTRIES) {
    const src = readFileSync(join(pkgDir, from), "utf8").replaceAll("./wasm/", "./wasm-dps/");
    writeFileSync(join(pkgDir, entry), `// hubwire/provisioning: ${from}'s twin over the \`dps\` build (DeviceClient.fromProvisioning).\n${src}`);
  }
  // hubwire/pnp: plain JS, no wasm.
  cpSync(join(repo, "src", "pnp.js"), join(pkgDir, "pnp.js"));
  cpSync(join(repo, "src", "pnp.d.ts"), join(pkgDir, "pnp.d.ts"));
  const glueDts = readFileSync(join(pkgDir, "wasm", "hubwire.d.ts"), "utf8");
  const dts = [
    "// Types of the `hubwire` package (generated by packaging/build.mjs from the wasm-bindgen declarations).",
    // wasm-bindgen declares `[Symbol.dispose]()`; without this, projects whose `lib` predates
    // esnext.disposable fail to compile the package's declarations (skipLibCheck off).
    glueDts.includes("Symbol.dispose") ? '/// <reference lib="esnext.disposable" />' : "",
    `export { ${values.join(", ")} } from "./wasm/hubwire.js";`,
    types.length ? `export type { ${types.join(", ")} } from "./wasm/hubwire.js";` : "",
    "",
  ].join("\n");
  writeFileSync(join(pkgDir, "index.d.ts"), dts);
  const dpsTypes = dpsSurface.types;
  writeFileSync(join(pkgDir, "provisioning.d.ts"), [
    "// Types of `hubwire/provisioning`: everything `hubwire` has, and DeviceClient.fromProvisioning.",
    '/// <reference lib="esnext.disposable" />',
    `export { ${values.join(", ")} } from "./wasm-dps/hubwire.js";`,
    `export type { ${dpsTypes.join(", ")} } from "./wasm-dps/hubwire.js";`,
    "",
  ].join("\n"));
  cpSync(join(here, "entries", "cloudflare.js"), join(pkgDir, "cloudflare.js"));
  cpSync(join(here, "entries", "cloudflare.d.ts"), join(pkgDir, "cloudflare.d.ts"));
  // The `hubwire fleet` CLI (bin "hubwire"): plain Node ESM, no dependencies.
  mkdirSync(join(pkgDir, "fleet"));
  for (const f of readdirSync(join(here, "fleet")).filter((f) => f.endsWith(".js")).sort()) {
    const src = readFileSync(join(here, "fleet", f), "utf8");
    writeFileSync(join(pkgDir, "fleet", f), f === "version.js" ? `// The hubwire version the fleet reports.\nexport const VERSION = ${JSON.stringify(version)};\n` : src);
  }
  cpSync(join(here, "README.package.md"), join(pkgDir, "README.md"));
  cpSync(join(repo, "LICENSE"), join(pkgDir, "LICENSE")); // the one LICENSE, also in the crate package

  checkImports(pkgDir);
  const minified = args.minify ? await minifyPackage(pkgDir) : null;
  for (const sub of ["wasm", "wasm-dps"]) {
    if (existsSync(join(pkgDir, sub, "snippets"))) {
      pkg.files.push(`${sub}/snippets/`);
      writePkg();
    }
  }
  // What ships must still load and export the same surface.
  const shipped = await loads();
  if (shipped) throw new Error(`the minified glue does not instantiate the wasm: ${shipped}`);
  const after = await surface(join(pkgDir, "wasm"));
  if (after.values.join() !== values.join()) throw new Error(`minifying changed the glue's exports: ${values} -> ${after.values}`);

  checkImports(pkgDir);

  const wasmSize = sizeOfFile(join(pkgDir, "wasm", "hubwire_bg.wasm"));
  const glueSize = sizeOfFile(join(pkgDir, "wasm", "hubwire.js"));
  const parts = packageParts(pkgDir);
  const provisioningParts = packageParts(pkgDir, { entry: "provisioning.js", wasmSub: "wasm-dps" });
  const pnpSize = sizeOfFile(join(pkgDir, "pnp.js"));
  const sizes = {
    version,
    wasm: wasmSize.bytes,
    wasmGzip: wasmSize.gzip,
    wasmBrotli: wasmSize.brotli,
    glueJs: glueSize.bytes,
    glueJsGzip: glueSize.gzip,
    minified,
    browserParts: parts,
    provisioningParts,
    pnp: pnpSize,
    files: listFiles(pkgDir),
    exports: { values, types },
  };

  if (args.pack) {
    const out = run("npm", ["pack", "--json", "--pack-destination", args.out], { cwd: pkgDir });
    const info = JSON.parse(out)[0];
    sizes.tarball = join(args.out, info.filename);
    sizes.tarballSize = info.size;
    sizes.unpackedSize = info.unpackedSize;
    sizes.packedFiles = info.files.map((f) => f.path).sort();
  }
  writeFileSync(join(args.out, "sizes.json"), `${JSON.stringify(sizes, null, 2)}\n`);

  const kb = (n) => `${(n / 1024).toFixed(1)} KiB (${n} B)`;
  console.log(`hubwire ${version}: package in ${relative(process.cwd(), pkgDir) || "."}${minified ? " (JS minified)" : ""}`);
  console.log(formatParts(parts));
  console.log("hubwire/provisioning (provisioning.js + wasm-dps/):");
  console.log(formatParts(provisioningParts));
  console.log(`hubwire/pnp (pnp.js): ${pnpSize.bytes} B, gzip ${pnpSize.gzip} B`);
  if (sizes.tarball) {
    console.log(`  tarball         ${kb(sizes.tarballSize)}  ${relative(process.cwd(), sizes.tarball)}`);
    console.log(`  unpacked        ${kb(sizes.unpackedSize)} in ${sizes.packedFiles.length} files`);
  }
  console.log(`  exports         ${values.join(", ")}; types ${types.join(", ") || "(none)"}`);
}

main().catch((e) => {
  console.error(`packaging/build.mjs: ${e.message}`);
  process.exit(1);
});
