// bench/run.mjs's bundle-size section: what a page loads from hubwire (the npm package's
// browser.js + glue + snippets + .wasm, part by part, and the .wasm by module) beside
// MQTT.js's browser bundles. Sizes are gzip -9 / brotli 11 (node zlib), as
// packaging/sizes.mjs measures them for the size budget.

import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { budget, packageParts, sizeOfFile } from "../packaging/sizes.mjs";
import { formatModules, wasmModules } from "../packaging/wasm-modules.mjs";

const f0 = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));

/**
 * @param {{ root: string, wasmDir: string, npmDir: string|null, mqttDist: string, log: Function }} o
 */
export function bundleSizes({ root, wasmDir, npmDir, mqttDist, log }) {
  const hubwire = packageParts(npmDir || wasmDir);
  const mqttVersion = JSON.parse(readFileSync(join(root, "node_modules/mqtt/package.json"), "utf8")).version;
  const mqtt = (file) => ({ what: `mqtt@${mqttVersion} dist/${file}`, file: relative(root, join(mqttDist, file)), ...sizeOfFile(join(mqttDist, file)) });
  let modules = null;
  try {
    modules = wasmModules({ shipped: join(wasmDir, "hubwire_bg.wasm") });
    log(`wasm by module:\n${formatModules(modules)}`);
  } catch (e) {
    log(`wasm by module: not measured (${e.message})`);
  }
  return {
    hubwire: {
      what: npmDir ? "npm package (packaging/build.mjs): browser.js + glue + snippets + wasm" : `${relative(root, wasmDir)}/: glue + snippets + wasm`,
      ...hubwire.total,
      parts: hubwire.parts,
      budgetGzip: budget(),
    },
    wasmModules: modules,
    mqttjsMin: mqtt("mqtt.min.js"),
    mqttjsEsm: mqtt("mqtt.esm.js"),
  };
}

/** The bundle section of latest.md. */
export function bundleMarkdown(b) {
  const L = [];
  L.push(`## Bundle size (what a page loads)`, "");
  L.push(`| bundle | bytes | gzip -9 | brotli 11 |`, `|---|---:|---:|---:|`);
  L.push(`| **hubwire** — ${b.hubwire.what} | ${f0(b.hubwire.bytes)} | **${f0(b.hubwire.gzip)}** | ${f0(b.hubwire.brotli)} |`);
  for (const p of b.hubwire.parts) {
    if (p.files.length) L.push(`| — ${p.part} (${p.files.map((f) => f.split("/").pop()).join(", ")}) | ${f0(p.bytes)} | ${f0(p.gzip)} | ${f0(p.brotli)} |`);
  }
  L.push(`| MQTT.js — ${b.mqttjsMin.what} | ${f0(b.mqttjsMin.bytes)} | ${f0(b.mqttjsMin.gzip)} | ${f0(b.mqttjsMin.brotli)} |`);
  L.push(`| MQTT.js — ${b.mqttjsEsm.what} | ${f0(b.mqttjsEsm.bytes)} | ${f0(b.mqttjsEsm.gzip)} | ${f0(b.mqttjsEsm.brotli)} |`);
  L.push("", `Size budget (packaging/size-budget.json, checked by \`scripts/test.sh wasm_build\`): ${f0(b.hubwire.budgetGzip)} B gzip -9; this run ${f0(b.hubwire.gzip)} B (${(b.hubwire.gzip / b.mqttjsMin.gzip).toFixed(2)}× MQTT.js min).`, "");
  const m = b.wasmModules;
  if (m) {
    const pct = (x) => `${((100 * x) / m.namedTotal).toFixed(1)} %`;
    L.push(`### The .wasm by module`, "");
    L.push(`Function bodies of a names-kept twin of the shipped .wasm (same cargo output, wasm-bindgen, wasm-opt flags + \`-g\`; packaging/wasm-modules.mjs). "gzip alone" compresses that part's bodies by themselves (parts share a dictionary in the real file, so these do not add up to the total).`, "");
    L.push(`| part | bytes | share | gzip alone | functions |`, `|---|---:|---:|---:|---:|`);
    for (const x of m.modules) if (x.functions) L.push(`| ${x.module} | ${f0(x.bytes)} | ${pct(x.bytes)} | ${f0(x.gzipAlone)} | ${x.functions} |`);
    L.push(`| data section (rodata: strings, tables) | ${f0(m.data)} | ${pct(m.data)} | | |`);
    L.push(`| other sections (types, imports, exports, table, globals, element) | ${f0(m.otherSections)} | ${pct(m.otherSections)} | | |`);
    L.push(`| total (names-kept twin, name section excluded) | ${f0(m.namedTotal)} | | | |`);
    L.push(`| the shipped .wasm | ${f0(m.shipped.bytes)} | | | |`, "");
  }
  return L.join("\n");
}
