// An X.509 (self-signed certificate) device: no SAS key, no token. The
// connection string says `x509=true`; the certificate is presented in the TLS
// handshake, which is the runtime's job, so `webSocketFactory` opens a socket
// that carries it. The same file under:
//
//   node x509.mjs                                  # Node 22+, with the `ws` package (npm install ws)
//   deno run --allow-env --allow-net --allow-read x509.mjs   # Deno's WebSocket + Deno.createHttpClient
//   bun x509.mjs                                   # Bun's WebSocket `tls` option
//
// Browsers cannot do this (docs/runtimes.md): a page cannot hand a certificate to `new WebSocket()`.
//
// HUBWIRE_EMULATOR: the emulator's ready JSON (started with `--tls-port N --client-certs`);
// HUBWIRE_X509: {"deviceId", "certPath", "keyPath"} (`hubwire-emulator cert --subject ID`,
// registered on the device as `authentication.type: "selfSigned"`).
// Prints one JSON line with the result; exits 1 on failure.
import { DeviceClient } from "hubwire";

const env = (name) => (globalThis.Deno ? Deno.env.get(name) : process.env[name]);
const runtime = globalThis.Deno ? `deno-${Deno.version.deno}` : globalThis.Bun ? `bun-${Bun.version}` : `node-${process.versions.node}`;
const readText = async (p) => (globalThis.Deno ? Deno.readTextFile(p) : (await import("node:fs")).readFileSync(p, "utf8"));

/** A WebSocket that presents `cert`/`key` (PEM) and trusts `ca` (PEM), per runtime. */
async function tlsWebSocketFactory({ cert, key, ca }) {
  if (globalThis.Deno) {
    const client = Deno.createHttpClient({ cert, key, caCerts: [ca] });
    return (url, protocols) => new WebSocket(url, { protocols, client });
  }
  if (globalThis.Bun) return (url, protocols) => new WebSocket(url, { protocols, tls: { cert, key, ca } });
  const { default: WsWebSocket } = await import("ws");
  return (url, protocols) => new WsWebSocket(url, protocols, { cert, key, ca });
}

try {
  const emulator = JSON.parse(env("HUBWIRE_EMULATOR"));
  const device = JSON.parse(env("HUBWIRE_X509"));
  const open = await tlsWebSocketFactory({
    cert: await readText(device.certPath),
    key: await readText(device.keyPath),
    ca: await readText(emulator.certPath),
  });
  const dialed = [];
  // hubwire dials wss://{HostName}:443/$iothub/websocket; the emulator's TLS port stands in for 443.
  const webSocketFactory = (url, protocols) => {
    dialed.push(url);
    const u = new URL(url);
    u.port = String(emulator.tlsPort);
    return open(u.href, protocols);
  };
  const client = DeviceClient.fromConnectionString(`HostName=${emulator.hostName};DeviceId=${device.deviceId};x509=true`, {
    webSocketFactory,
    connectTimeoutMs: 15000,
  });
  await client.connect();
  for (let i = 0; i < 3; i++) await client.sendEvent({ runtime, i });
  const version = await client.updateReportedProperties({ auth: "x509" });
  await client.disconnect();
  client.close();
  console.log(JSON.stringify({ ok: true, runtime, dialed: dialed[0], sent: 3, reportedVersion: version }));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  console.log(JSON.stringify({ ok: false, runtime, error: `${e && e.code ? `${e.code}: ` : ""}${e && e.message ? e.message : e}` }));
  globalThis.Deno ? Deno.exit(1) : process.exit(1);
}
