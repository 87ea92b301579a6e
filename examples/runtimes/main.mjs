// Runs the shared device script (../shared/roundtrip.mjs) with the runtime's
// global WebSocket. The same file, unchanged, under:
//
//   node main.mjs                       # Node 22+
//   deno run --allow-env --allow-net --allow-read main.mjs
//   bun main.mjs
//
// HUBWIRE_EMULATOR is the emulator's ready JSON (`--ready-file`), or set
// HUBWIRE_EMULATOR_HTTP to its http URL and the rest is read from /emulator/info.
// Prints one JSON line with the result; exits 1 on failure.
import { DeviceClient } from "hubwire";
import { runRoundtrip } from "../shared/roundtrip.mjs";

const env = (name) => (globalThis.Deno ? Deno.env.get(name) : globalThis.process?.env[name]);
const runtime = globalThis.Deno ? `deno-${Deno.version.deno}` : globalThis.Bun ? `bun-${Bun.version}` : `node-${process.versions.node}`;

async function emulator() {
  if (env("HUBWIRE_EMULATOR")) return JSON.parse(env("HUBWIRE_EMULATOR"));
  const http = env("HUBWIRE_EMULATOR_HTTP");
  if (!http) throw new Error("set HUBWIRE_EMULATOR (ready JSON) or HUBWIRE_EMULATOR_HTTP");
  return (await fetch(`${http.replace(/\/$/, "")}/emulator/info`)).json();
}

try {
  const result = await runRoundtrip({ DeviceClient }, await emulator(), { runtime, log: (l) => console.error(`[${runtime}] ${l}`) });
  console.log(JSON.stringify(result));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  console.log(JSON.stringify({ ok: false, runtime, error: String(e && e.message ? e.message : e) }));
  globalThis.Deno ? Deno.exit(1) : process.exit(1);
}
