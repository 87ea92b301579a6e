// hubwire (the packed tarball, in Node 22) against the emulator with the
// identities beyond a device key: a device connection string signed with a
// hub shared access policy (SharedAccessKeyName=device), and a module identity
// that connects through a gateway (GatewayHostName) over wss:// and works its
// module twin end to end (get, reported patch, desired patch pushed live).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { installPackage, startEmulator } from "./helpers.mjs";

let emu;
let service;
let hubwire;

before(async () => {
  emu = await startEmulator({ tls: true });
  service = new ServiceClient(emu);
  const app = installPackage("identities");
  hubwire = await import(pathToFileURL(join(app.dir, "node_modules", "hubwire", "node.js")).href);
});

after(async () => {
  await emu?.stop();
});

const rand = () => Math.random().toString(36).slice(2, 8);

async function waitFor(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("policy_key_connection_string_connects_and_sends_acked_succeeds", async () => {
  const deviceId = `policy-${rand()}`;
  await service.createDevice(deviceId);
  const policy = await service.request("GET", "/emulator/policies/device");
  assert.equal(policy.rights, "DeviceConnect");
  const cs = `HostName=${service.hostName};DeviceId=${deviceId};SharedAccessKeyName=device;SharedAccessKey=${policy.primaryKey}`;
  const client = hubwire.DeviceClient.fromConnectionString(cs, { url: emu.wsUrl });
  try {
    await client.connect();
    await client.sendEvent({ signedBy: "device policy" }, { qos: 1, messageId: "p1" });
    const items = (await service.request("GET", `/emulator/telemetry?deviceId=${deviceId}`)).items;
    assert.equal(items.length, 1);
    assert.equal(items[0].systemProperties.messageId, "p1");
  } finally {
    await client.disconnect().catch(() => {});
    client.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
});

test("policy_without_device_connect_refused_unauthorized_fails", async () => {
  const deviceId = `nopolicy-${rand()}`;
  await service.createDevice(deviceId);
  const policy = await service.request("GET", "/emulator/policies/service");
  const cs = `HostName=${service.hostName};DeviceId=${deviceId};SharedAccessKeyName=service;SharedAccessKey=${policy.primaryKey}`;
  const client = hubwire.DeviceClient.fromConnectionString(cs, { url: emu.wsUrl });
  try {
    await assert.rejects(client.connect(), (e) => e.code === "UNAUTHORIZED");
  } finally {
    client.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
});

test("module_twin_through_gateway_wss_end_to_end_succeeds", async () => {
  const deviceId = `edge-${rand()}`;
  await service.createDevice(deviceId);
  const mod = await service.request("PUT", `/devices/${deviceId}/modules/filter`, { deviceId, moduleId: "filter" });
  // The gateway is the emulator's TLS listener reached as 127.0.0.1 (its certificate names it);
  // HostName stays the hub's, in the username and the SAS resource.
  const gateway = "127.0.0.1";
  const cs = `HostName=${service.hostName};DeviceId=${deviceId};ModuleId=filter;SharedAccessKey=${mod.authentication.symmetricKey.primaryKey};GatewayHostName=${gateway}`;
  const ca = readFileSync(emu.certPath);
  const dialed = [];
  const webSocketFactory = (url, protocols) => {
    dialed.push(url);
    // Port 443 is not ours to bind: keep the gateway host, use the emulator's TLS port.
    const u = new URL(url);
    u.port = String(emu.tlsPort);
    return new WebSocket(u.href, protocols, { ca });
  };
  const client = hubwire.DeviceClient.fromConnectionString(cs, { webSocketFactory });
  try {
    const desired = [];
    client.onDesiredPropertiesUpdate((patch) => desired.push(patch));
    await client.connect();
    assert.ok(dialed[0].startsWith(`wss://${gateway}:443/$iothub/websocket`), `dialed ${dialed[0]}`);
    const conn = await service.request("GET", `/emulator/devices/${deviceId}/modules/filter/connection`);
    assert.equal(conn.connected, true);
    assert.match(conn.username, new RegExp(`^${service.hostName}/${deviceId}/filter/\\?api-version=`));

    const first = await client.getTwin();
    assert.equal(first.reported.$version, 1);
    const version = await client.updateReportedProperties({ role: "filter", threshold: 30 });
    assert.equal(version, 2);
    const twin = await service.request("GET", `/twins/${deviceId}/modules/filter`);
    assert.equal(twin.moduleId, "filter");
    assert.deepEqual(twin.properties.reported, { role: "filter", threshold: 30, $version: 2 });

    await service.request("PATCH", `/twins/${deviceId}/modules/filter`, { properties: { desired: { threshold: 25 } } });
    await waitFor("the desired patch", () => desired.length > 0);
    assert.deepEqual(desired[0], { threshold: 25, $version: 2 });
    const again = await client.getTwin();
    assert.equal(again.desired.threshold, 25);

    await client.sendEvent({ t: 26 }, { qos: 1 });
    const items = (await service.request("GET", `/emulator/telemetry?deviceId=${deviceId}`)).items;
    assert.equal(items[0].moduleId, "filter");
  } finally {
    await client.disconnect().catch(() => {});
    client.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
});
