// Node 20 has no global WebSocket (unless started with --experimental-websocket):
// give hubwire the `ws` package's WebSocket through `webSocketFactory`.
//
//   npm install hubwire ws
//   node node20-ws.mjs
import { DeviceClient } from "hubwire";
import WebSocket from "ws";
import { runRoundtrip } from "../shared/roundtrip.mjs";

const webSocketFactory = (url, protocols) => new WebSocket(url, protocols);

const runtime = `node-${process.versions.node}-ws`;
try {
  const emulator = process.env.HUBWIRE_EMULATOR
    ? JSON.parse(process.env.HUBWIRE_EMULATOR)
    : await (await fetch(`${process.env.HUBWIRE_EMULATOR_HTTP}/emulator/info`)).json();
  const result = await runRoundtrip({ DeviceClient, webSocketFactory }, emulator, { runtime, log: (l) => console.error(`[${runtime}] ${l}`) });
  console.log(JSON.stringify(result));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  console.log(JSON.stringify({ ok: false, runtime, error: String(e && e.message ? e.message : e) }));
  process.exit(1);
}
