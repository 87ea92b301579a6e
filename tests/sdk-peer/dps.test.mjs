// Acceptance of the emulator's Device Provisioning Service: the official Node
// provisioning SDK (azure-iot-provisioning-device + azure-iot-provisioning-device-mqtt
// over MqttWs + azure-iot-security-symmetric-key), a client nobody here wrote,
// provisions against hubwire-emulator (individual and group enrollments), and the
// device it was given then connects with azure-iot-device and sends telemetry.
//
//   cd tests/sdk-peer && npm ci && node --test dps.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import device from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import provisioning from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetric from 'azure-iot-security-symmetric-key';

import { api, emulatorAgent, startEmulator, waitFor } from './emulator.mjs';

const { Client, Message } = device;
const { ProvisioningDeviceClient } = provisioning;
const { SymmetricKeySecurityClient } = symmetric;
// The MQTT layer the provisioning transport ships with (its own pinned copy).
const { MqttBase } = createRequire(createRequire(import.meta.url).resolve('azure-iot-provisioning-device-mqtt'))('azure-iot-mqtt-base');

let emu;
let ready;

before(async () => {
  emu = await startEmulator();
  ready = emu.ready;
  assert.ok(ready.dps?.idScope, 'READY names the DPS ID scope');
});

after(() => emu?.stop());

// As the official sample (provisioning/device/samples/register_symkeygroup.js).
function computeDerivedSymmetricKey(masterKey, regId) {
  return createHmac('SHA256', Buffer.from(masterKey, 'base64')).update(regId, 'utf8').digest('base64');
}

// MqttWs dials wss://{provisioningHost}:443/$iothub/websocket: its MqttBase gets the
// emulator agent and certificate.
function transport() {
  const base = new MqttBase();
  base.setOptions({ ca: readFileSync(ready.certPath, 'utf8'), mqtt: { webSocketAgent: emulatorAgent(ready) } });
  return new provisioningMqtt.MqttWs(base);
}

function provisioningClient(registrationId, key) {
  return ProvisioningDeviceClient.create(ready.dps.provisioningHost, ready.dps.idScope, transport(), new SymmetricKeySecurityClient(registrationId, key));
}

async function connectAndSend(result, key, body) {
  const cs = `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${key};GatewayHostName=localhost`;
  const client = Client.fromConnectionString(cs, deviceMqtt.MqttWs);
  await client.setOptions({ mqtt: { webSocketAgent: emulatorAgent(ready) }, ca: readFileSync(ready.certPath, 'utf8') });
  await client.open();
  try {
    await client.sendEvent(new Message(body));
    const items = await waitFor('the telemetry record', async () => {
      const r = await api(ready, 'GET', `/emulator/telemetry?deviceId=${encodeURIComponent(result.deviceId)}`);
      return r.json.items.length >= 1 && r.json.items;
    });
    assert.equal(items[0].body, body);
  } finally {
    await client.close();
  }
}

test('individual enrollment: the SDK provisions, the payload is recorded, the device connects', async () => {
  const reg = 'sdk-dps-individual';
  const put = await api(ready, 'PUT', `/enrollments/${reg}?api-version=2021-10-01`, {
    registrationId: reg,
    attestation: { type: 'symmetricKey' },
    initialTwin: { tags: { site: 'lab' } },
  });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const key = put.json.attestation.symmetricKey.primaryKey;

  const client = provisioningClient(reg, key);
  client.setProvisioningPayload({ modelId: 'dtmi:com:example:Thermostat;1' });
  const result = await client.register();
  assert.equal(result.status, 'assigned');
  assert.equal(result.assignedHub, ready.hostName);
  assert.equal(result.deviceId, reg);
  assert.equal(result.substatus, 'initialAssignment');

  const state = await api(ready, 'GET', `/registrations/${reg}`);
  assert.equal(state.status, 200);
  assert.deepEqual(state.json.payload, { modelId: 'dtmi:com:example:Thermostat;1' });
  assert.equal(state.json.deviceId, reg);
  const twin = await api(ready, 'GET', `/twins/${reg}`);
  assert.deepEqual(twin.json.tags, { site: 'lab' });

  await connectAndSend(result, key, '{"t":21}');
});

test('group enrollment: a derived key provisions, the group key itself does not', async () => {
  const group = 'sdk-dps-fleet';
  const put = await api(ready, 'PUT', `/enrollmentGroups/${group}`, { enrollmentGroupId: group, attestation: { type: 'symmetricKey' } });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const groupKey = put.json.attestation.symmetricKey.primaryKey;

  for (const reg of ['sdk-dps-truck-1', 'sdk-dps-truck-2']) {
    const key = computeDerivedSymmetricKey(groupKey, reg);
    const result = await provisioningClient(reg, key).register();
    assert.equal(result.deviceId, reg);
    await connectAndSend(result, key, `hello from ${reg}`);
  }
  const regs = await api(ready, 'POST', `/registrations/${group}/query`);
  assert.deepEqual(regs.json.map((r) => r.registrationId).sort(), ['sdk-dps-truck-1', 'sdk-dps-truck-2']);

  await assert.rejects(provisioningClient('sdk-dps-truck-3', groupKey).register(), (err) => {
    assert.equal(err.name, 'UnauthorizedError');
    assert.equal(err.result.errorCode, 401002);
    return true;
  });
});

test('a wrong key is refused with 401 (UnauthorizedError), an unknown registration too', async () => {
  const reg = 'sdk-dps-badkey';
  const put = await api(ready, 'PUT', `/enrollments/${reg}`, { attestation: { type: 'symmetricKey' } });
  const wrong = put.json.attestation.symmetricKey.primaryKey.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
  for (const [r, key] of [[reg, wrong], ['sdk-dps-nobody', put.json.attestation.symmetricKey.primaryKey]]) {
    await assert.rejects(provisioningClient(r, key).register(), (err) => {
      assert.equal(err.name, 'UnauthorizedError', String(err));
      assert.equal(err.result.errorCode, 401002);
      return true;
    });
  }
});

test('throttled (429 + retry-after) and slow assignment: the SDK waits and still provisions', async () => {
  const reg = 'sdk-dps-throttled';
  const put = await api(ready, 'PUT', `/enrollments/${reg}`, { attestation: { type: 'symmetricKey' } });
  const key = put.json.attestation.symmetricKey.primaryKey;
  for (const fault of [
    { kind: 'throttle', count: 1, retryAfterSeconds: 2 },
    { kind: 'slowAssignment', ms: 1500 },
  ]) {
    const r = await api(ready, 'POST', `/emulator/dps/faults/${reg}`, fault);
    assert.equal(r.status, 204, JSON.stringify(r.json));
  }
  const start = Date.now();
  const result = await provisioningClient(reg, key).register();
  assert.equal(result.deviceId, reg);
  assert.ok(Date.now() - start >= 2000 + 1000, `waited ${Date.now() - start} ms for retry-after and assignment`);
});

test('a disabled enrollment ends the registration', async () => {
  const reg = 'sdk-dps-disabled';
  const put = await api(ready, 'PUT', `/enrollments/${reg}`, { attestation: { type: 'symmetricKey' }, provisioningStatus: 'disabled' });
  const key = put.json.attestation.symmetricKey.primaryKey;
  await assert.rejects(provisioningClient(reg, key).register(), /status is disabled/);
  const state = await api(ready, 'GET', `/registrations/${reg}`);
  assert.equal(state.json.status, 'disabled');
  const dev = await api(ready, 'GET', `/devices/${reg}`);
  assert.equal(dev.status, 404);
});

test('service routes answer like DPS: 404201, 412 on a stale etag, attestation mechanism', async () => {
  const missing = await api(ready, 'GET', '/enrollments/sdk-dps-none');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.errorCode, 404201);
  const put = await api(ready, 'PUT', '/enrollments/sdk-dps-etag', { attestation: { type: 'symmetricKey' } });
  const stale = await api(ready, 'PUT', '/enrollments/sdk-dps-etag', { attestation: { type: 'symmetricKey' } }, { 'if-match': '"99"' });
  assert.equal(stale.status, 412);
  const att = await api(ready, 'POST', '/enrollments/sdk-dps-etag/attestationmechanism');
  assert.deepEqual(att.json, put.json.attestation);
  const list = await api(ready, 'POST', '/enrollments/query');
  assert.ok(list.json.some((e) => e.registrationId === 'sdk-dps-etag'));
  const del = await api(ready, 'DELETE', '/enrollments/sdk-dps-etag', undefined, { 'if-match': put.json.etag });
  assert.equal(del.status, 204);
});
