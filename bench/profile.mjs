// bench/run.mjs --profile: a Chromium CPU profile (CDP Profiler, 100 µs sampling) of
// hubwire's QoS 1 throughput run at window 64, in a fresh page that loads the names-kept
// twin of the .wasm (packaging/wasm-modules.mjs; same code, with its name section), so wasm
// frames have Rust names. Prints and returns where the time goes: self time by category
// (wasm by module, the glue, the bench page, the browser's WebSocket and GC, idle) and the
// top functions; writes the .cpuprofile (loadable in Chrome DevTools) next to latest.json.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { moduleOf, namedWasm } from "../packaging/wasm-modules.mjs";

/** Writes the names-kept wasm where bench/run.mjs serves /profile/. */
export function prepareProfileWasm(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "hubwire_bg.wasm"), namedWasm());
}

function categoryOf(frame) {
  const { functionName: fn, url } = frame;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)") return "browser (program: event loop, IPC, native WebSocket work)";
  if (fn === "(root)") return "root";
  if (url.startsWith("wasm://") || /^\$?(hubwire|core|alloc|std|dlmalloc|talc|deviceclient_|__wbg|<)/.test(fn)) return `wasm: ${moduleOf(fn.replace(/^\$/, ""))}`;
  if (/\/hubwire\/hubwire\.js/.test(url)) return "JS: hubwire glue";
  if (/\/(bench|burst|connect)\.js/.test(url)) return "JS: bench page (pump, promises)";
  if (!url) return `browser builtin: ${fn || "(anonymous)"}`;
  return `JS: ${url.split("/").pop()}`;
}

/** Self time per node id, from the samples and their time deltas (µs). */
function selfTimes(profile) {
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) || 0) + (profile.timeDeltas[i] || 0));
  }
  return self;
}

export function summarise(profile, top = 25) {
  const self = selfTimes(profile);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const cats = new Map();
  const fns = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const n = byNode.get(id);
    const cat = categoryOf(n.callFrame);
    cats.set(cat, (cats.get(cat) || 0) + us);
    const key = `${n.callFrame.functionName || "(anonymous)"}  [${cat}]`;
    fns.set(key, (fns.get(key) || 0) + us);
    total += us;
  }
  const busy = total - (cats.get("idle") || 0);
  const rows = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ what: k, ms: us / 1000, ofBusy: /^(idle|\(idle\))/.test(k) ? null : us / busy }));
  return { totalMs: total / 1000, busyMs: busy / 1000, categories: rows(cats), top: rows(fns).filter((r) => r.ofBusy !== null).slice(0, top) };
}

/**
 * Records the profile in a fresh page `url?wasm=/profile/hubwire_bg.wasm`, runs one hubwire
 * throughput run there, and summarises it.
 */
export async function profileWrite({ browser, url, cfg, count, size, window, out, log }) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log("profile page error:", e.message));
  await page.goto(`${url}?wasm=/profile/hubwire_bg.wasm`);
  await page.evaluate(() => window.benchReady);
  // One unrecorded run so the wasm is tiered up and the emulator warm, as in the throughput rounds.
  await page.evaluate((a) => window.bench.throughput(a), { lib: "hubwire", cfg, count: Math.min(count, 2000), size, window });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  const r = await page.evaluate((a) => window.bench.throughput(a), { lib: "hubwire", cfg, count, size, window });
  const { profile } = await cdp.send("Profiler.stop");
  await page.close();
  mkdirSync(out, { recursive: true });
  const file = join(out, "qos1-w64.cpuprofile");
  writeFileSync(file, JSON.stringify(profile));
  const s = summarise(profile);
  log(`profile: hubwire QoS 1 window ${window}, ${count} messages, ${r.msgsPerSec.toFixed(0)} msg/s while profiled; ${s.busyMs.toFixed(0)} ms busy of ${s.totalMs.toFixed(0)} ms (${file})`);
  for (const c of s.categories) log(`  ${(c.ms).toFixed(1).padStart(8)} ms ${c.ofBusy == null ? "       " : `${(100 * c.ofBusy).toFixed(1).padStart(5)} %`}  ${c.what}`);
  log("  top functions by self time:");
  for (const t of s.top) log(`  ${(t.ms).toFixed(1).padStart(8)} ms ${(100 * t.ofBusy).toFixed(1).padStart(5)} %  ${t.what}`);
  return { window, count, size, msgsPerSec: r.msgsPerSec, file, ...s };
}

const f1 = (x) => (x == null ? "—" : x.toFixed(1));

export function profileMarkdown(p) {
  if (!p) return "";
  const L = [];
  L.push(`## Where hubwire's QoS 1 write path spends its time (window ${p.window}, ${p.count.toLocaleString("en-US")} messages, Chromium CPU profile)`, "");
  L.push(`${Math.round(p.msgsPerSec).toLocaleString("en-US")} msg/s while profiled; ${f1(p.busyMs)} ms busy of ${f1(p.totalMs)} ms. Self time; names from the names-kept twin of the .wasm.`, "");
  const us = (ms) => ((1000 * ms) / p.count).toFixed(2);
  L.push(`| category | ms | µs per message | % of busy |`, `|---|---:|---:|---:|`);
  for (const c of p.categories) L.push(`| ${c.what} | ${f1(c.ms)} | ${us(c.ms)} | ${c.ofBusy == null ? "—" : f1(100 * c.ofBusy)} |`);
  L.push("", `| top functions (self) | ms | µs per message | % of busy |`, `|---|---:|---:|---:|`);
  for (const t of p.top.slice(0, 15)) L.push(`| \`${t.what.replace(/\|/g, "\\|")}\` | ${f1(t.ms)} | ${us(t.ms)} | ${f1(100 * t.ofBusy)} |`);
  L.push("");
  return L.join("\n");
}
