#!/usr/bin/env node
// Assembles the npm package `hubwire` from `wasm-pack build --target web --release`
// output and packs it with `npm pack`.
//
//   node packaging/build.mjs                  # wasm-pack build, assemble pkg-npm/hubwire, pack
//   node packaging/build.mjs --wasm-dir DIR   # reuse an existing --target web output in DIR
//   node packaging/build.mjs --no-pack        # assemble only
//   node packaging/build.mjs --out DIR        # output root (default: <repo>/pkg-npm)
//
// Output: <out>/hubwire/ (the package directory), <out>/hubwire-<version>.tgz,
// <out>/sizes.json. Prints the sizes. Runs on Node 20+ with no dependencies.

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { brotliCompressSync, constants as zc, gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");

// Names the wasm-bindgen `--target web` glue exports for initialisation (the
// package initialises itself) and `Core`, the core the client object drives
// (src/wasm/core.rs): these stay out of the package's public surface.
const INIT_NAMES = new Set(["default", "initSync", "InitInput", "InitOutput", "SyncInitInput", "__wbg_init", "Core"]);

function parseArgs(argv) {
  const args = { wasmDir: process.env.HUBWIRE_WASM_DIR || null, out: join(repo, "pkg-npm"), pack: true, opt: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--wasm-dir") args.wasmDir = resolve(argv[++i]);
    else if (a === "--out") args.out = resolve(argv[++i]);
    else if (a === "--no-pack") args.pack = false;
    else if (a === "--no-opt") args.opt = false;
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

function which(cmd) {
  for (const d of (process.env.PATH || "").split(":")) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return null;
}

/** wasm-pack --target web, without its own wasm-opt step (we run wasm-opt below with explicit features). */
function wasmPackBuild(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  run("wasm-pack", ["build", repo, "--target", "web", "--release", "--out-dir", outDir, "--out-name", "hubwire", "--no-pack", "--no-opt"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return outDir;
}

/**
 * Optimise for size with wasm-opt: the npm `binaryen` (root devDependency) first, then
 * WASM_OPT or PATH. Debian's binaryen 108 corrupts wasm-bindgen's externref table
 * ("WebAssembly.Table.set(): Argument 1 is invalid for table"), so the result must
 * also instantiate through the glue (`loads`) or the unoptimised file is kept.
 */
async function wasmOpt(wasmPath, loads) {
  const npmBin = join(repo, "node_modules", ".bin", "wasm-opt");
  const bin = process.env.WASM_OPT || (existsSync(npmBin) ? npmBin : which("wasm-opt"));
  if (!bin) return { optimised: false, note: "wasm-opt not found" };
  const before = statSync(wasmPath).size;
  const tmp = `${wasmPath}.opt`;
  const features = [
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
  ];
  let version = "";
  try {
    version = run(bin, ["--version"]).trim();
    run(bin, ["-Oz", ...features, wasmPath, "-o", tmp]);
  } catch (e) {
    rmSync(tmp, { force: true });
    return { optimised: false, note: `wasm-opt failed (${e.message.split("\n")[0]}); shipped unoptimised` };
  }
  const after = statSync(tmp).size;
  const broken = await loads(readFileSync(tmp));
  if (broken) {
    rmSync(tmp, { force: true });
    return { optimised: false, note: `${version} produced a wasm that does not instantiate (${broken}); shipped unoptimised` };
  }
  if (after < before) cpSync(tmp, wasmPath);
  rmSync(tmp, { force: true });
  return { optimised: after < before, tool: version, before, after: Math.min(before, after) };
}

/** Instantiates `bytes` through a fresh copy of the glue and makes a client; returns an error message or null. */
async function instantiates(glueDir, bytes) {
  const copy = join(glueDir, `probe-${process.pid}-${Date.now()}.js`);
  cpSync(join(glueDir, "hubwire.js"), copy);
  try {
    const glue = await import(pathToFileURL(copy).href);
    glue.initSync({ module: bytes });
    const client = glue.DeviceClient.fromConnectionString("HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5");
    if (client.state !== "disconnected") return `a new client's state is ${client.state}`;
    client.close();
    return null;
  } catch (e) {
    return e && e.message ? e.message : String(e);
  } finally {
    rmSync(copy, { force: true });
  }
}

/** Export names of the wasm-bindgen glue: values from the JS module itself, types from its .d.ts. */
async function surface(wasmDir) {
  const glue = await import(pathToFileURL(join(wasmDir, "hubwire.js")).href);
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
        for (const m of src.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm)) {
          const spec = m[1] || m[2] || m[3];
          const rel = relative(pkgDir, p);
          const fleet = rel.startsWith("fleet/");
          if (spec.startsWith("./") || (spec.startsWith("../") && !fleet)) continue;
          if (fleet && spec === "../node.js") continue;
          if (rel === "node.js" && spec === "node:fs/promises") continue;
          if (fleet && spec.startsWith("node:")) continue;
          problems.push(`${rel} imports ${spec}`);
        }
        const nodeOnly = p.endsWith("node.js") || relative(pkgDir, p).startsWith("fleet/");
        if (/\brequire\s*\(|\bBuffer\b|\bprocess\.(env|nextTick|versions)/.test(src) && !nodeOnly) {
          problems.push(`${relative(pkgDir, p)} uses a Node global (require/Buffer/process)`);
        }
      }
    }
  };
  walk(pkgDir);
  const mod = new WebAssembly.Module(readFileSync(join(pkgDir, "wasm", "hubwire_bg.wasm")));
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module === "env") problems.push(`the wasm imports env.${imp.name}`);
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
  const wasmDir = args.wasmDir || wasmPackBuild(join(repo, "target", "hubwire-web"));
  for (const f of ["hubwire.js", "hubwire.d.ts", "hubwire_bg.wasm"]) {
    if (!existsSync(join(wasmDir, f))) throw new Error(`${wasmDir} has no ${f}: not wasm-pack --target web output?`);
  }

  const pkgDir = join(args.out, "hubwire");
  rmSync(pkgDir, { recursive: true, force: true });
  mkdirSync(join(pkgDir, "wasm"), { recursive: true });

  // The glue, its types, the wasm and any inline_js snippets, under wasm/.
  cpSync(join(wasmDir, "hubwire.js"), join(pkgDir, "wasm", "hubwire.js"));
  cpSync(join(wasmDir, "hubwire.d.ts"), join(pkgDir, "wasm", "hubwire.d.ts"));
  cpSync(join(wasmDir, "hubwire_bg.wasm"), join(pkgDir, "wasm", "hubwire_bg.wasm"));
  if (existsSync(join(wasmDir, "snippets"))) cpSync(join(wasmDir, "snippets"), join(pkgDir, "wasm", "snippets"), { recursive: true });
  const rawWasm = statSync(join(pkgDir, "wasm", "hubwire_bg.wasm")).size;

  // package.json (with "type": "module") first, so that importing the copied glue is plain ESM.
  const pkg = JSON.parse(readFileSync(join(here, "package.template.json"), "utf8"));
  pkg.version = version;
  if (existsSync(join(pkgDir, "wasm", "snippets"))) pkg.files.push("wasm/snippets/");
  writeFileSync(join(pkgDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);

  const { values, types } = await surface(join(pkgDir, "wasm"));
  const unoptimised = await instantiates(join(pkgDir, "wasm"), readFileSync(join(pkgDir, "wasm", "hubwire_bg.wasm")));
  if (unoptimised) throw new Error(`the wasm-pack output does not instantiate: ${unoptimised}`);
  const opt = args.opt
    ? await wasmOpt(join(pkgDir, "wasm", "hubwire_bg.wasm"), (bytes) => instantiates(join(pkgDir, "wasm"), bytes))
    : { optimised: false, note: "--no-opt" };
  const jsExports = `export { ${values.join(", ")} } from "./wasm/hubwire.js";\n`;
  for (const entry of ["browser.js", "node.js", "workerd.js"]) {
    const src = readFileSync(join(here, "entries", entry), "utf8");
    if (!src.includes("/*HUBWIRE_EXPORTS*/")) throw new Error(`entries/${entry} lacks the exports marker`);
    writeFileSync(join(pkgDir, entry), src.replace("/*HUBWIRE_EXPORTS*/\n", jsExports));
  }
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

  const wasmBytes = readFileSync(join(pkgDir, "wasm", "hubwire_bg.wasm"));
  const glueBytes = readFileSync(join(pkgDir, "wasm", "hubwire.js"));
  const sizes = {
    version,
    wasmRaw: rawWasm,
    wasm: wasmBytes.length,
    wasmGzip: gzipSync(wasmBytes, { level: 9 }).length,
    wasmBrotli: brotliCompressSync(wasmBytes, { params: { [zc.BROTLI_PARAM_QUALITY]: 11 } }).length,
    glueJs: glueBytes.length,
    glueJsGzip: gzipSync(glueBytes, { level: 9 }).length,
    wasmOpt: opt,
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
  console.log(`hubwire ${version}: package in ${relative(process.cwd(), pkgDir) || "."}`);
  console.log(`  wasm            ${kb(sizes.wasm)}${opt.optimised ? ` (before ${opt.tool} -Oz: ${kb(rawWasm)})` : `; ${opt.note || "not optimised"}`}`);
  console.log(`  wasm gzip -9    ${kb(sizes.wasmGzip)}`);
  console.log(`  wasm brotli 11  ${kb(sizes.wasmBrotli)}`);
  console.log(`  glue js         ${kb(sizes.glueJs)} (gzip ${kb(sizes.glueJsGzip)})`);
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
