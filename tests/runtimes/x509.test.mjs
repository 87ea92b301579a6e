// X.509 devices (issue 14 item 5): hubwire with `x509=true` connects with a
// self-signed client certificate and no SAS password, in Node (the `ws`
// package), Deno (its WebSocket with Deno.createHttpClient) and Bun (its
// WebSocket `tls` option) — examples/runtimes/x509.mjs, the packed tarball — against
// the emulator started with `--tls-port 0 --client-certs`, devices registered
// `selfSigned` with a thumbprint from `hubwire-emulator cert`. Refusals: another
// device's certificate, no certificate, and `?iothub-no-client-cert=true` (the
// hub then ignores the certificate) all end UNAUTHORIZED.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { emulatorBin } from "../support/emulator.mjs";
import { bin, emulatorJson, installPackage, lastJson, repo, runProcess, startEmulator } from "./helpers.mjs";

let emu;
let service;
let app;
let hubwire;
let certDir;

before(async () => {
  emu = await startEmulator({ tls: true, args: ["--client-certs"] });
  service = new ServiceClient(emu);
  app = installPackage("x509");
  cpSync(join(repo, "examples", "runtimes"), join(app.dir, "runtimes"), { recursive: true });
  hubwire = await import(pathToFileURL(join(app.dir, "node_modules", "hubwire", "node.js")).href);
  certDir = join(app.dir, "certs");
  mkdirSync(certDir, { recursive: true });
});

after(async () => {
  await emu?.stop();
});

const rand = () => Math.random().toString(36).slice(2, 8);

/** A certificate from `hubwire-emulator cert` (optionally registered on a new selfSigned device). */
async function x509Device(register = true) {
  const deviceId = `x509-${rand()}`;
  const r = spawnSync(emulatorBin(), ["cert", "--subject", deviceId, "--out-dir", certDir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const made = JSON.parse(r.stdout);
  if (register) {
    const dev = await service.request("PUT", `/devices/${deviceId}`, {
      deviceId,
      authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: made.thumbprint, secondaryThumbprint: null } },
    });
    assert.equal(dev.authentication.type, "selfSigned");
  }
  return { deviceId, certPath: made.certPath, keyPath: made.keyPath };
}

for (const [name, cmd, args] of [
  ["node", () => bin("node"), ["runtimes/x509.mjs"]],
  ["deno", () => bin("deno"), ["run", "--allow-env", "--allow-net", "--allow-read", "runtimes/x509.mjs"]],
  ["bun", () => bin("bun"), ["runtimes/x509.mjs"]],
]) {
  test(`x509_${name}_certificate_connects_without_password_succeeds`, async () => {
    const device = await x509Device();
    const env = { ...process.env, HUBWIRE_EMULATOR: emulatorJson(emu), HUBWIRE_X509: JSON.stringify(device) };
    const r = await runProcess(cmd(), args, { cwd: app.dir, env, timeoutMs: 60000 });
    const detail = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    const result = lastJson(r.stdout);
    assert.ok(result, `no result; ${detail}`);
    assert.equal(result.ok, true, `${result.error}; ${detail}`);
    assert.match(result.runtime, new RegExp(`^${name}-`));
    // The default URL of an X.509 client has no ?iothub-no-client-cert=true.
    assert.equal(result.dialed, `wss://${service.hostName}:443/$iothub/websocket`);
    const items = (await service.request("GET", `/emulator/telemetry?deviceId=${device.deviceId}`)).items;
    assert.deepEqual(
      items.map((i) => JSON.parse(i.body).i),
      [0, 1, 2],
    );
    const twin = await service.request("GET", `/twins/${device.deviceId}`);
    assert.equal(twin.properties.reported.auth, "x509");
  });
}

/** Connects an x509=true client for `deviceId` presenting `tls` ({cert, key} or nothing); resolves the rejection or "connected". */
async function attempt(deviceId, tls, options = {}) {
  const ca = readFileSync(emu.certPath);
  const webSocketFactory = (url, protocols) => {
    const u = new URL(url);
    u.port = String(emu.tlsPort);
    return new WebSocket(u.href, protocols, { ca, ...tls });
  };
  const client = hubwire.DeviceClient.fromConnectionString(`HostName=${service.hostName};DeviceId=${deviceId};x509=true`, {
    webSocketFactory,
    connectTimeoutMs: 10000,
    ...options,
  });
  try {
    await client.connect();
    return "connected";
  } catch (e) {
    return e;
  } finally {
    client.close();
  }
}

test("x509_refused_with_another_certificate_none_or_no_client_cert_query_fails", async () => {
  const device = await x509Device();
  const stranger = await x509Device(false);
  const own = { cert: readFileSync(device.certPath), key: readFileSync(device.keyPath) };
  assert.equal(await attempt(device.deviceId, own), "connected");
  const refusals = [
    await attempt(device.deviceId, { cert: readFileSync(stranger.certPath), key: readFileSync(stranger.keyPath) }),
    await attempt(device.deviceId, {}),
    // The query tells the hub to ignore a certificate: the device then has no credential.
    await attempt(device.deviceId, own, { url: `wss://${service.hostName}:443/$iothub/websocket?iothub-no-client-cert=true` }),
  ];
  for (const e of refusals) {
    assert.ok(e instanceof Error, `expected a rejection, got ${e}`);
    assert.equal(e.code, "UNAUTHORIZED", e.message);
  }
});

test("x509_connection_string_with_a_key_is_invalid_fails", () => {
  assert.throws(
    () => hubwire.DeviceClient.fromConnectionString(`HostName=h;DeviceId=d;x509=true;SharedAccessKey=a2V5`),
    (e) => e.code === "INVALID_CONNECTION_STRING" && /x509/.test(e.message),
  );
});

test("sas_default_url_carries_no_client_cert_query_and_connects_succeeds", async () => {
  // The same emulator asks every TLS client for a certificate (--client-certs); a SAS
  // device's default URL says it has none, and it connects with its key.
  const deviceId = `sas-${rand()}`;
  const { connectionString } = await service.createDevice(deviceId);
  const ca = readFileSync(emu.certPath);
  const dialed = [];
  const webSocketFactory = (url, protocols) => {
    dialed.push(url);
    const u = new URL(url);
    u.port = String(emu.tlsPort);
    return new WebSocket(u.href, protocols, { ca });
  };
  const client = hubwire.DeviceClient.fromConnectionString(connectionString, { webSocketFactory });
  try {
    await client.connect();
    assert.equal(dialed[0], `wss://${service.hostName}:443/$iothub/websocket?iothub-no-client-cert=true`);
    await client.sendEvent("sas over the default url");
    const items = (await service.request("GET", `/emulator/telemetry?deviceId=${deviceId}`)).items;
    assert.equal(items[0].body, "sas over the default url");
  } finally {
    client.close();
  }
});
