#!/usr/bin/env node
// Where the .wasm's bytes are, by module: a names-kept twin of the shipped wasm (the same
// cargo output through `wasm-bindgen --target web` and wasm-opt with the same flags plus
// `-g`, which keeps the `name` section), parsed here (no twiggy needed): each function body
// of the code section is attributed to the module its name points at; the data section
// and the module's other sections are parts of their own.
//
//   node packaging/wasm-modules.mjs [SHIPPED.wasm] [--features dps]   # the table (default pkg/, with dps pkg-dps/)
//
// Attribution (first rule that matches the demangled name):
//   wasm-bindgen shims  the exports (`core_*`, `deviceclient_*`: wasm-bindgen's shims with the
//                       bodies LLVM inlined into them, e.g. most of hub::Client under `core_bytes`),
//                       `__wbg*`/`__wbindgen*`/`__externref*`, wasm_bindgen::, js_sys::
//   allocator           the allocator (talc; dlmalloc in older builds; __rdl_*, __rust_alloc*)
//   sha2                sha2, digest, block_buffer, hmac
//   hubwire::<module>   the first `hubwire::<module>` in the name (so std's generic code
//                       instantiated for a hubwire type, e.g. its drop glue, counts to that module)
//   std+core+alloc      std, core, alloc, compiler_builtins (`__multi3`), methods of primitive
//                       types (`<char>::is_whitespace`), the panic machinery
//   other               anything else (functions the name section leaves unnamed)
// Used by bench/run.mjs (bundle table) and docs/size.md.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { cargoWasm, PKG_DIR, PKG_DPS_DIR, repo, WASM_OPT, wasmOptFlags } from "./web.mjs";

/**
 * Builds the names-kept twin of pkg/'s wasm (or, with `features: "dps"`, pkg-dps/'s) into a
 * temporary directory from the cargo output that build kept; returns its bytes.
 */
export function namedWasm({ features = null, input = cargoWasm(features) } = {}) {
  if (!existsSync(input)) throw new Error(`${input} is missing: build pkg/ first (node packaging/web.mjs)`);
  const dir = mkdtempSync(join(tmpdir(), "hubwire-named-"));
  try {
    execFileSync("wasm-bindgen", ["--target", "web", "--out-dir", dir, "--out-name", "hubwire", input], { stdio: ["ignore", "inherit", "inherit"] });
    execFileSync(WASM_OPT, [...wasmOptFlags(), "-g", join(dir, "hubwire_bg.wasm"), "-o", join(dir, "named.wasm")], { stdio: ["ignore", "inherit", "inherit"] });
    return readFileSync(join(dir, "named.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SECTION = { 0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount" };

/**
 * Parses a wasm binary: its sections (`{ id, name, size }`, size including the header),
 * function bodies (`{ index, size, bytes }`, size including the length prefix) and the
 * `name` section's function names.
 */
export function parseWasm(buf) {
  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error("not a wasm module");
  let p = 8;
  const leb = () => {
    let r = 0, shift = 0, x;
    do {
      x = buf[p++];
      r += (x & 0x7f) * 2 ** shift;
      shift += 7;
    } while (x & 0x80);
    return r;
  };
  const name = () => {
    const n = leb();
    const s = buf.subarray(p, p + n).toString("utf8");
    p += n;
    return s;
  };
  const limits = () => {
    const flags = buf[p++];
    leb();
    if (flags & 1) leb();
  };
  const sections = [];
  const bodies = [];
  const names = new Map();
  let importedFunctions = 0;
  while (p < buf.length) {
    const start = p;
    const id = buf[p++];
    const size = leb();
    const end = p + size;
    const section = { id, name: SECTION[id] || `unknown ${id}`, size: end - start };
    if (id === 2) {
      for (let i = 0, n = leb(); i < n; i++) {
        name();
        name();
        const kind = buf[p++];
        if (kind === 0) {
          leb();
          importedFunctions++;
        } else if (kind === 1) {
          p++; // reftype
          limits();
        } else if (kind === 2) limits();
        else if (kind === 3) p += 2; // valtype, mutability
        else if (kind === 4) {
          p++;
          leb();
        }
      }
    } else if (id === 10) {
      for (let i = 0, n = leb(); i < n; i++) {
        const s = p;
        const len = leb();
        p += len;
        bodies.push({ index: importedFunctions + i, size: p - s, bytes: buf.subarray(s, p) });
      }
    } else if (id === 0) {
      section.custom = name();
      if (section.custom === "name") {
        while (p < end) {
          const sub = buf[p++];
          const subEnd = leb() + p;
          if (sub === 1) {
            for (let i = 0, n = leb(); i < n; i++) {
              const idx = leb();
              names.set(idx, name());
            }
          }
          p = subEnd;
        }
      }
    }
    sections.push(section);
    p = end;
  }
  for (const b of bodies) b.name = names.get(b.index) ?? null;
  return { sections, bodies, importedFunctions };
}

export const MODULE_ORDER = ["hubwire::hub", "hubwire::mqtt", "hubwire::dps", "hubwire::wasm", "hubwire (other)", "exports + wasm-bindgen shims", "std+core+alloc", "allocator", "sha2", "other"];

/** The part a function (by its demangled name) belongs to; see the header. */
export function moduleOf(fname) {
  if (!fname) return "other";
  const n = fname.replace(/\[[0-9a-f]{16}\]/g, ""); // crate disambiguators: core[c593…]::
  if (/^(deviceclient|core)_[A-Za-z]|^(__wbg|__wbindgen|__externref)|externref shim|multivalue shim|(^|[<\s])(wasm_bindgen|js_sys)::/.test(n)) return "exports + wasm-bindgen shims";
  if (/talc|dlmalloc|__rdl_|__rust_(alloc|dealloc|realloc)|__rg_/.test(n)) return "allocator";
  if (/(^|[<\s])(sha2|digest|block_buffer|hmac)::/.test(n)) return "sha2";
  const h = n.match(/hubwire::([a-z_0-9]+)/);
  if (h) return ["hub", "mqtt", "dps", "wasm"].includes(h[1]) ? `hubwire::${h[1]}` : "hubwire (other)";
  if (/(^|[<\s&*])(core|alloc|std|compiler_builtins|__rustc)::|^(rust_|__rust|memcpy|memmove|memset|memcmp|bcmp)|^<(char|str|bool|\[|[iuf](8|16|32|64|128|size))\b|^__[a-z]+[0-9]$/.test(n)) return "std+core+alloc";
  return "other";
}

/**
 * The breakdown: `{ modules: [{ module, bytes, functions, gzipAlone }], code, data, otherSections,
 * namedTotal, shipped: { bytes, code, data, otherSections } }` — module bytes are function bodies
 * of the names-kept twin (name section excluded from its total).
 */
export function wasmModules({ features = null, shipped = join(features ? PKG_DPS_DIR : PKG_DIR, "hubwire_bg.wasm"), named = namedWasm({ features }) } = {}) {
  const n = parseWasm(named);
  const s = parseWasm(readFileSync(shipped));
  if (s.bodies.length !== n.bodies.length) {
    throw new Error(`the names-kept twin has ${n.bodies.length} functions, ${relative(repo, shipped)} ${s.bodies.length}: not the same build (rebuild with node packaging/web.mjs${features ? ` --features ${features}` : ""})`);
  }
  const by = new Map(MODULE_ORDER.map((m) => [m, { module: m, bytes: 0, functions: 0, parts: [] }]));
  for (const b of n.bodies) {
    const m = by.get(moduleOf(b.name));
    m.bytes += b.size;
    m.functions++;
    m.parts.push(b.bytes);
  }
  const modules = [...by.values()].map(({ parts, ...m }) => ({ ...m, gzipAlone: parts.length ? gzipSync(Buffer.concat(parts), { level: 9 }).length : 0 }));
  const sum = (secs, f) => secs.filter(f).reduce((a, s) => a + s.size, 0);
  const split = (secs) => ({
    code: sum(secs, (s) => s.id === 10),
    data: sum(secs, (s) => s.id === 11),
    otherSections: sum(secs, (s) => s.id !== 10 && s.id !== 11 && s.custom !== "name"),
  });
  const namedSplit = split(n.sections);
  return {
    modules,
    ...namedSplit,
    namedTotal: namedSplit.code + namedSplit.data + namedSplit.otherSections,
    shipped: { file: relative(repo, shipped), bytes: statSync(shipped).size, ...split(s.sections) },
  };
}

/** The breakdown as a plain-text table. */
export function formatModules(r) {
  const n = (x) => x.toLocaleString("en-US").padStart(9);
  const pct = (x) => `${((100 * x) / r.namedTotal).toFixed(1).padStart(5)} %`;
  const rows = [`  ${"wasm part".padEnd(20)} ${"bytes".padStart(9)}  share  ${"gzip alone".padStart(10)}  functions`];
  for (const m of r.modules) if (m.functions) rows.push(`  ${m.module.padEnd(20)} ${n(m.bytes)} ${pct(m.bytes)} ${n(m.gzipAlone).padStart(10)}  ${m.functions}`);
  rows.push(`  ${"data (rodata)".padEnd(20)} ${n(r.data)} ${pct(r.data)}`);
  rows.push(`  ${"other sections".padEnd(20)} ${n(r.otherSections)} ${pct(r.otherSections)}  (types, imports, exports, table, globals, element)`);
  rows.push(`  ${"total (names kept)".padEnd(20)} ${n(r.namedTotal)}  the shipped ${r.shipped.file}: ${r.shipped.bytes.toLocaleString("en-US")} B (code ${r.shipped.code.toLocaleString("en-US")}, data ${r.shipped.data.toLocaleString("en-US")})`);
  return rows.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  try {
    const args = process.argv.slice(2);
    const f = args.indexOf("--features");
    const features = f >= 0 ? args.splice(f, 2)[1] : null;
    console.log(formatModules(wasmModules({ features, ...(args[0] ? { shipped: args[0] } : {}) })));
  } catch (e) {
    console.error(`packaging/wasm-modules.mjs: ${e.message}`);
    process.exit(1);
  }
}
