// A token provider for browsers: mints device SAS tokens from a key the browser never
// sees. The page calls `GET /token?deviceId=…&expiry=…` from hubwire's `getToken`
// (DeviceClient.fromTokenProvider; the dashboard's "token server URL" field) and gets
// `{ token, expiry }` back. Node 22+, no dependencies:
//
//   HUBWIRE_DEVICE_CONNECTION_STRING='HostName=…;DeviceId=…;SharedAccessKey=…' \
//   ALLOW_ORIGIN=http://127.0.0.1:8080 PORT=8099 node examples/token-server/server.mjs
//
// A real deployment authenticates the user first (session cookie, OAuth) and decides
// which device ids they may act as; this example serves the one device it holds.
import { createHmac } from "node:crypto";
import { createServer } from "node:http";

const cs = Object.fromEntries(
  (process.env.HUBWIRE_DEVICE_CONNECTION_STRING || "").split(";").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
if (!cs.HostName || !cs.DeviceId || !cs.SharedAccessKey) throw new Error("set HUBWIRE_DEVICE_CONNECTION_STRING to a device connection string with a SharedAccessKey");
const MAX_TTL = Number(process.env.MAX_TTL_SECONDS || 3660); // hubwire asks for tokenTtlSeconds (3600) ahead
const ORIGIN = process.env.ALLOW_ORIGIN || "*";
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

function token(deviceId, expiry) {
  const sr = enc(`${cs.HostName}/devices/${deviceId}`);
  const sig = createHmac("sha256", Buffer.from(cs.SharedAccessKey, "base64")).update(`${sr}\n${expiry}`).digest("base64");
  return `SharedAccessSignature sr=${sr}&sig=${enc(sig)}&se=${expiry}`;
}

const server = createServer((req, res) => {
  const answer = (status, body) => {
    res.writeHead(status, { "content-type": "application/json", "access-control-allow-origin": ORIGIN, "cache-control": "no-store", vary: "origin" });
    res.end(JSON.stringify(body));
  };
  const url = new URL(req.url, "http://localhost");
  if (req.method !== "GET" || url.pathname !== "/token") return answer(404, { error: "GET /token?deviceId=&expiry=" });
  const deviceId = url.searchParams.get("deviceId");
  const expiry = Number(url.searchParams.get("expiry"));
  const now = Math.floor(Date.now() / 1000);
  if (deviceId !== cs.DeviceId) return answer(403, { error: "this server mints tokens for one device only" });
  // The exact expiry asked for (hubwire renews by it), within MAX_TTL; never a silently shorter one.
  if (!Number.isInteger(expiry) || expiry <= now || expiry > now + MAX_TTL) return answer(400, { error: `expiry must be within ${MAX_TTL} s from now` });
  answer(200, { token: token(deviceId, expiry), expiry });
});
server.listen(Number(process.env.PORT || 0), process.env.BIND || "127.0.0.1", () => {
  console.log(`token server: http://${server.address().address}:${server.address().port}/token (device ${cs.DeviceId})`);
});
