#!/usr/bin/env node
// What a page loads from the npm package, part by part, and the size budget.
//
//   node packaging/sizes.mjs [PKG_DIR]     # default pkg-npm/hubwire: prints the parts, fails over budget
//
// The parts (gzip -9 and brotli 11 each, as bench/run.mjs measures them): the entry
// (`browser.js`), the glue (`wasm/hubwire.js`), any snippets (`wasm/snippets/**.js`, none once
// packaging/minify.mjs inlined them) and the `.wasm`. Their gzip -9 sum must stay within
// packaging/size-budget.json's `gzipTotal` (scripts/test.sh wasm_build runs this).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { brotliCompressSync, constants as zc, gzipSync } from "node:zlib";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BUDGET_FILE = join(repo, "packaging", "size-budget.json");

/** `{ bytes, gzip, brotli }` of one file (gzip -9, brotli quality 11). */
export function sizeOfFile(file) {
  const b = readFileSync(file);
  return {
    bytes: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: b.length } }).length,
  };
}

/** Every .js file under `dir` (none if it does not exist), sorted. */
export function walkJs(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walkJs(p));
    else if (e.name.endsWith(".js")) out.push(p);
  }
  return out.sort();
}

/**
 * The files a page loads from a package directory (`pkg-npm/hubwire`, entry `browser.js`)
 * or from a wasm-pack web directory (`pkg/`, no entry), as parts:
 * `{ parts: [{ part, files, bytes, gzip, brotli }], total: { bytes, gzip, brotli } }`.
 */
export function packageParts(dir, { entry = "browser.js", wasmSub = "wasm" } = {}) {
  const wasmDir = existsSync(join(dir, wasmSub, "hubwire_bg.wasm")) ? join(dir, wasmSub) : dir;
  const groups = [
    ["entry", wasmDir !== dir && entry ? [join(dir, entry)] : []],
    ["glue", [join(wasmDir, "hubwire.js")]],
    ["snippets", walkJs(join(wasmDir, "snippets"))],
    ["wasm", [join(wasmDir, "hubwire_bg.wasm")]],
  ];
  const parts = [];
  const total = { bytes: 0, gzip: 0, brotli: 0 };
  for (const [part, files] of groups) {
    const p = { part, files: files.map((f) => relative(repo, f)), bytes: 0, gzip: 0, brotli: 0 };
    for (const f of files) {
      const s = sizeOfFile(f);
      for (const k of ["bytes", "gzip", "brotli"]) {
        p[k] += s[k];
        total[k] += s[k];
      }
    }
    parts.push(p);
  }
  return { parts, total };
}

/** packaging/size-budget.json's `gzipTotal` (the hub entry), or another of its budgets. */
export function budget(key = "gzipTotal") {
  const b = JSON.parse(readFileSync(BUDGET_FILE, "utf8"));
  if (!Number.isInteger(b[key]) || b[key] <= 0) throw new Error(`${BUDGET_FILE}: ${key} must be a positive integer`);
  return b[key];
}

/** The parts as a plain-text table. */
export function formatParts({ parts, total }) {
  const n = (x) => x.toLocaleString("en-US").padStart(9);
  const rows = [`  ${"part".padEnd(9)} ${"bytes".padStart(9)} ${"gzip -9".padStart(9)} ${"brotli".padStart(9)}  files`];
  for (const p of parts) rows.push(`  ${p.part.padEnd(9)} ${n(p.bytes)} ${n(p.gzip)} ${n(p.brotli)}  ${p.files.join(" ") || "(none)"}`);
  rows.push(`  ${"total".padEnd(9)} ${n(total.bytes)} ${n(total.gzip)} ${n(total.brotli)}`);
  return rows.join("\n");
}

/** Prints one entry's parts against its budget; returns whether it is within. */
function check(title, sizes, key) {
  const limit = budget(key);
  console.log(title);
  console.log(formatParts(sizes));
  const within = sizes.total.gzip <= limit;
  console.log(`size budget ${key} (${relative(repo, BUDGET_FILE)}): gzip -9 total ${sizes.total.gzip} B, budget ${limit} B: ${within ? "within" : "OVER"}` +
    (within ? ` (${limit - sizes.total.gzip} B to spare)` : ` by ${sizes.total.gzip - limit} B`));
  return within;
}

function main() {
  const dir = resolve(process.argv[2] || join(repo, "pkg-npm", "hubwire"));
  if (!existsSync(join(dir, "browser.js"))) throw new Error(`${dir} is not an npm package directory (run node packaging/build.mjs)`);
  const hub = packageParts(dir);
  const dps = packageParts(dir, { entry: "provisioning.js", wasmSub: "wasm-dps" });
  const pnp = sizeOfFile(join(dir, "pnp.js"));
  let ok = check(`what a page loads from ${relative(process.cwd(), dir) || "."} for "hubwire" (browser.js + glue + snippets + wasm):`, hub, "gzipTotal");
  ok = check(`for "hubwire/provisioning" (provisioning.js + wasm-dps/ glue + wasm):`, dps, "provisioningGzipTotal") && ok;
  console.log(`DPS costs ${dps.total.gzip - hub.total.gzip} B gzip (provisioning entry minus hub entry)`);
  const pnpLimit = budget("pnpGzip");
  console.log(`"hubwire/pnp" (pnp.js, no wasm): ${pnp.bytes} B, gzip ${pnp.gzip} B, budget ${pnpLimit} B: ${pnp.gzip <= pnpLimit ? "within" : "OVER"}`);
  ok = pnp.gzip <= pnpLimit && ok;
  if (!ok) {
    console.log("An entry grew past its budget: find what grew (./scripts/bench.sh prints the wasm by module) and shrink it; budgets only go down.");
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  try {
    main();
  } catch (e) {
    console.error(`packaging/sizes.mjs: ${e.message}`);
    process.exit(1);
  }
}
