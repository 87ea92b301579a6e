// bench/websocket-memory.mjs — what one connected DeviceClient costs in a Node
// process with each WebSocket implementation (docs/fleet.md, "Memory"): N clients
// in ONE thread against a release emulator of its own, 1 msg/s each for 15 s, then
// RSS, V8 heap, external (wasm) memory growth per client after a forced GC.
//
//   node --expose-gc bench/websocket-memory.mjs [--devices 2000] [--impl node|ws|global]
//        [--emulator target/release/hubwire-emulator] [--wasm-dir pkg]

import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { launchEmulator } from "../tests/support/emulator.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (name, d) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : d);
const N = Number(opt("--devices", "2000"));
const IMPL = opt("--impl", "node");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");

const emu = await launchEmulator({ bin: resolve(ROOT, opt("--emulator", "target/release/hubwire-emulator")), args: ["--no-demo-device"] });
try {
  const { info } = emu;
  const wasmDir = resolve(ROOT, opt("--wasm-dir", "pkg"));
  const glue = await import(pathToFileURL(join(wasmDir, "hubwire.js")).href);
  const wasm = glue.initSync({ module: readFileSync(join(wasmDir, "hubwire_bg.wasm")) });
  const { resolveIdentities } = await import(pathToFileURL(join(ROOT, "packaging/fleet/identities.js")).href);
  const ids = await resolveIdentities({ serviceConnectionString: info.serviceConnectionString, serviceUrl: info.httpUrl, prefix: "mem", count: N, index: 1, pad: 6, existing: "reuse", registryConcurrency: 4, shard: { index: 0, count: 1 } });
  let factory;
  if (IMPL === "node") factory = (await import(pathToFileURL(join(ROOT, "packaging/fleet/ws-node.js")).href)).nodeWebSocketFactory();
  else if (IMPL === "ws") {
    const { WebSocket } = await import(pathToFileURL(join(ROOT, "node_modules/ws/wrapper.mjs")).href);
    factory = (u, p) => new WebSocket(u, p);
  } else if (IMPL !== "global") throw new Error(`--impl ${IMPL}: node, ws or global`);
  globalThis.gc();
  const m0 = process.memoryUsage();
  const wasm0 = wasm.memory.buffer.byteLength;
  const clients = [];
  for (let i = 0; i < ids.devices.length; i += 200) {
    const batch = ids.devices.slice(i, i + 200).map((d) => glue.DeviceClient.fromConnectionString(d.connectionString, { url: info.wsUrl, ...(factory ? { webSocketFactory: factory } : {}) }));
    clients.push(...batch);
    await Promise.all(batch.map((c) => c.connect()));
  }
  let acked = 0;
  let errors = 0;
  const timers = clients.map((c, i) => setTimeout(function tick() {
    c.sendEvent('{"t":21.5}').then(() => acked++, () => errors++);
    timers[i] = setTimeout(tick, 1000);
  }, Math.random() * 1000));
  await sleep(15000);
  globalThis.gc();
  const m1 = process.memoryUsage();
  const per = (a, b) => ((b - a) / N / 1024).toFixed(1);
  console.log(JSON.stringify({
    devices: N, websocket: IMPL, acked, errors,
    rssPerDeviceKiB: per(m0.rss, m1.rss), heapPerDeviceKiB: per(m0.heapUsed, m1.heapUsed),
    externalPerDeviceKiB: per(m0.external, m1.external), wasmPerDeviceKiB: per(wasm0, wasm.memory.buffer.byteLength),
  }));
  timers.forEach(clearTimeout);
  clients.forEach((c) => c.close());
} finally {
  await emu.stop();
}
process.exit(0);
