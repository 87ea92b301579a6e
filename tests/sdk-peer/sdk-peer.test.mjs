// The acceptance test of the emulator: the official Azure IoT device SDK for
// Node (azure-iot-device + azure-iot-device-mqtt, MqttWs transport), a client
// nobody here wrote, against hubwire-emulator's wss:// endpoint.
//
//   cd tests/sdk-peer && npm ci && node --test
//
// The emulator binary comes from HUBWIRE_EMULATOR_BIN or target/debug/hubwire-emulator.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import device from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import common from 'azure-iot-common';

import { api as emuApi, emulatorAgent as agentFor, startEmulator, waitFor } from './emulator.mjs';

const { Client, ModuleClient, Message } = device;
const { MqttWs } = deviceMqtt;
const { NoRetry } = common;

let emu; // startEmulator(): { ready, stop, bin, dir }
let ready; // READY JSON
let bin; // the emulator binary (its `cert` subcommand)
let tmp; // the emulator's run directory (certificates made here)

const api = (method, p, body, headers) => emuApi(ready, method, p, body, headers);
const emulatorAgent = () => agentFor(ready);

async function openClient(connectionString, Kind = Client) {
  const client = Kind.fromConnectionString(`${connectionString};GatewayHostName=localhost`, MqttWs);
  await client.setOptions({ mqtt: { webSocketAgent: emulatorAgent() }, ca: readFileSync(ready.certPath, 'utf8') });
  await client.open();
  return client;
}

async function createDevice(id) {
  const r = await api('PUT', `/devices/${encodeURIComponent(id)}`, { deviceId: id });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const key = r.json.authentication.symmetricKey.primaryKey;
  return `HostName=${ready.hostName};DeviceId=${id};SharedAccessKey=${key}`;
}

before(async () => {
  // --client-certs: the TLS listener asks for (optional) client certificates, for the X.509 test.
  emu = await startEmulator(['--client-certs']);
  ({ ready, bin, dir: tmp } = emu);
});

after(() => emu?.stop());

test('sdk connects with a registry connection string and its telemetry is recorded decoded', async () => {
  const cs = await createDevice('sdk-telemetry');
  const client = await openClient(cs);
  try {
    const conn = await api('GET', '/emulator/devices/sdk-telemetry/connection');
    assert.equal(conn.json.connected, true);
    assert.equal(conn.json.cleanSession, false);
    assert.deepEqual(conn.json.subscriptions, []);

    const m = new Message(JSON.stringify({ t: 2 }));
    m.messageId = 'mid 1&x=y';
    m.correlationId = 'cid/1';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    m.properties.add('my key', 'a b');
    m.properties.add('amp&', 'x&y');
    m.properties.add('subdelims', "!'()*~-_.");
    m.properties.add('unicode', 'ü☃');
    m.properties.add('plus', '1+2');
    await client.sendEvent(m);

    const sec = new Message('sec');
    sec.setAsSecurityMessage();
    await client.sendEvent(sec);

    const items = await waitFor('two telemetry records', async () => {
      const r = await api('GET', '/emulator/telemetry?deviceId=sdk-telemetry');
      return r.json.items.length >= 2 && r.json.items;
    });
    const [t, s] = items;
    assert.equal(t.deviceId, 'sdk-telemetry');
    assert.equal(t.body, '{"t":2}');
    assert.equal(t.systemProperties.messageId, 'mid 1&x=y');
    assert.equal(t.systemProperties.correlationId, 'cid/1');
    assert.equal(t.systemProperties.contentType, 'application/json');
    assert.equal(t.systemProperties.contentEncoding, 'utf-8');
    assert.deepEqual(t.properties, { 'my key': 'a b', 'amp&': 'x&y', subdelims: "!'()*~-_.", unicode: 'ü☃', plus: '1+2' });
    assert.match(t.enqueuedTimeUtc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(s.body, 'sec');
    assert.equal(s.systemProperties.interfaceId, 'urn:azureiot:Security:SecurityAgent:1');
  } finally {
    await client.close();
  }
});

test('sdk receives a cloud-to-device message sent through the service API', async () => {
  const cs = await createDevice('sdk-c2d');
  const client = await openClient(cs);
  try {
    const got = new Promise((resolve) => client.on('message', (msg) => {
      client.complete(msg, () => resolve(msg));
    }));
    const r = await api('POST', '/devices/sdk-c2d/messages/deviceBound', 'hello c2d', {
      'iothub-messageid': 'c2d-mid-1',
      'iothub-correlationid': 'corr 1',
      'iothub-ack': 'full',
      'content-type': 'text/plain',
      'iothub-app-color': 'blue & green',
    });
    assert.equal(r.status, 204);
    const msg = await got;
    assert.equal(msg.data.toString(), 'hello c2d');
    assert.equal(msg.messageId, 'c2d-mid-1');
    assert.equal(msg.correlationId, 'corr 1');
    assert.equal(msg.to, '/devices/sdk-c2d/messages/deviceBound');
    assert.equal(msg.contentType, 'text/plain');
    assert.equal(msg.properties.getValue('color'), 'blue & green');
    assert.equal(msg.properties.getValue('iothub-ack'), 'full');
    // Acknowledged by PUBACK: nothing left in the queue.
    await waitFor('the C2D queue to drain', async () => {
      const d = await api('GET', '/devices/sdk-c2d');
      return d.json.cloudToDeviceMessageCount === 0;
    });
  } finally {
    await client.close();
  }
});

test('sdk gets its twin, updates reported properties and receives a desired patch', async () => {
  const cs = await createDevice('sdk-twin');
  await api('PATCH', '/twins/sdk-twin', { properties: { desired: { interval: 5 } } });
  const client = await openClient(cs);
  try {
    const twin = await client.getTwin();
    assert.equal(twin.properties.desired.interval, 5);
    assert.equal(twin.properties.desired.$version, 2);
    assert.equal(twin.properties.reported.$version, 1);

    await new Promise((resolve, reject) =>
      twin.properties.reported.update({ fw: '1.1', nested: { a: 1 } }, (err) => (err ? reject(err) : resolve())),
    );
    const after = await api('GET', '/twins/sdk-twin');
    assert.equal(after.json.properties.reported.fw, '1.1');
    assert.deepEqual(after.json.properties.reported.nested, { a: 1 });
    assert.equal(after.json.properties.reported.$version, 2);

    const desired = new Promise((resolve) =>
      twin.on('properties.desired', (delta) => {
        if (delta.interval === 10) resolve(delta);
      }),
    );
    // The SDK subscribes to desired patches when the listener is added; wait for the SUBSCRIBE.
    await waitFor('the desired-properties subscription', async () => {
      const c = await api('GET', '/emulator/devices/sdk-twin/connection');
      return c.json.subscriptions.includes('$iothub/twin/PATCH/properties/desired/#');
    });
    const p = await api('PATCH', '/twins/sdk-twin', { properties: { desired: { interval: 10, gone: null } } });
    assert.equal(p.status, 200);
    const delta = await desired;
    assert.equal(delta.$version, 3);
    assert.equal(twin.properties.desired.interval, 10);
  } finally {
    await client.close();
  }
});

test('sdk reported patch breaking a twin rule is refused with the hub error body', async () => {
  // IoT Hub answers $iothub/twin/res/400 with {errorCode, message}; the SDK turns
  // a response carrying errorCode into an Error with that message.
  const cs = await createDevice('sdk-twin-rule');
  const client = await openClient(cs);
  try {
    const twin = await client.getTwin();
    const err = await new Promise((resolve) =>
      twin.properties.reported.update({ 'fw.version': '1.1' }, (e) => resolve(e)),
    );
    assert.ok(err instanceof Error, 'the update fails');
    assert.match(err.message, /fw\.version/);
    await new Promise((resolve, reject) =>
      twin.properties.reported.update({ fw: { version: '1.1' } }, (e) => (e ? reject(e) : resolve())),
    );
    const after = await api('GET', '/twins/sdk-twin-rule');
    assert.deepEqual(after.json.properties.reported, { fw: { version: '1.1' }, $version: 2 });
  } finally {
    await client.close();
  }
});

test('sdk answers a direct method invoked through the service API', async () => {
  const cs = await createDevice('sdk-method');
  const client = await openClient(cs);
  try {
    client.onDeviceMethod('reboot', (request, response) => {
      response.send(200, { result: 'ok', echo: request.payload }, () => {});
    });
    const r = await api('POST', '/twins/sdk-method/methods', {
      methodName: 'reboot',
      payload: { delay: 1 },
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 10,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { status: 200, payload: { result: 'ok', echo: { delay: 1 } } });

    const missing = await api('POST', '/twins/sdk-nobody/methods', { methodName: 'reboot', payload: null });
    assert.equal(missing.status, 404);
  } finally {
    await client.close();
  }
});

test('sdk with a wrong key is refused', async () => {
  const cs = await createDevice('sdk-wrongkey');
  const bad = cs.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  await assert.rejects(openClient(bad), (err) => {
    assert.match(`${err.name} ${err.message}`, /Unauthorized|Not authorized/i);
    return true;
  });
  const conn = await api('GET', '/emulator/devices/sdk-wrongkey/connection');
  assert.equal(conn.json.connected, false);
  assert.equal(conn.json.connections, 0);
});

test('sdk module identity sends telemetry, patches its module twin and answers a module method', async () => {
  await createDevice('sdk-edge');
  const r = await api('PUT', '/devices/sdk-edge/modules/mod1', { deviceId: 'sdk-edge', moduleId: 'mod1' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const key = r.json.authentication.symmetricKey.primaryKey;
  const cs = `HostName=${ready.hostName};DeviceId=sdk-edge;ModuleId=mod1;SharedAccessKey=${key}`;
  const client = await openClient(cs, ModuleClient);
  try {
    const conn = await api('GET', '/emulator/devices/sdk-edge/modules/mod1/connection');
    assert.equal(conn.json.connected, true);
    await client.sendEvent(new Message('from module'));
    const items = await waitFor('module telemetry', async () => {
      const t = await api('GET', '/emulator/telemetry?deviceId=sdk-edge');
      return t.json.items.length >= 1 && t.json.items;
    });
    assert.equal(items[0].moduleId, 'mod1');
    assert.equal(items[0].body, 'from module');

    const twin = await client.getTwin();
    await new Promise((resolve, reject) =>
      twin.properties.reported.update({ role: 'filter' }, (err) => (err ? reject(err) : resolve())),
    );
    const mt = await api('GET', '/twins/sdk-edge/modules/mod1');
    assert.equal(mt.json.moduleId, 'mod1');
    assert.equal(mt.json.properties.reported.role, 'filter');

    client.onMethod('ping', (request, response) => response.send(200, { pong: true }, () => {}));
    const m = await api('POST', '/twins/sdk-edge/modules/mod1/methods', {
      methodName: 'ping',
      payload: null,
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 10,
    });
    assert.equal(m.status, 200, JSON.stringify(m.json));
    assert.deepEqual(m.json, { status: 200, payload: { pong: true } });
  } finally {
    await client.close();
  }
});

test('sdk gets a C2D message queued while it was offline, after it reconnects', async () => {
  const cs = await createDevice('sdk-offline');
  const first = await openClient(cs);
  await first.close();
  const r = await api('POST', '/devices/sdk-offline/messages/deviceBound', 'while you were out', {
    'iothub-messageid': 'offline-1',
  });
  assert.equal(r.status, 204);
  const queued = await api('GET', '/devices/sdk-offline');
  assert.equal(queued.json.cloudToDeviceMessageCount, 1);

  const client = await openClient(cs);
  try {
    const msg = await new Promise((resolve) => client.on('message', (m) => client.complete(m, () => resolve(m))));
    assert.equal(msg.data.toString(), 'while you were out');
    assert.equal(msg.messageId, 'offline-1');
  } finally {
    await client.close();
  }
});

test('a second sdk connection with the same identity drops the first', async () => {
  const cs = await createDevice('sdk-twice');
  const a = await openClient(cs);
  // Without retries, so the first client does not take the identity back.
  a.setRetryPolicy(new NoRetry());
  const dropped = new Promise((resolve) => a.on('disconnect', resolve));
  const b = await openClient(cs);
  try {
    await dropped;
    const conn = await api('GET', '/emulator/devices/sdk-twice/connection');
    assert.equal(conn.json.connected, true);
    assert.equal(conn.json.connections, 2);
    await b.sendEvent(new Message('from the second'));
  } finally {
    await b.close();
    await a.close().catch(() => {});
  }
});

test('sdk X.509 self-signed device connects over MqttWs with its certificate and no SAS', async () => {
  const id = 'sdk-x509';
  const out = spawnSync(bin, ['cert', '--subject', id, '--out-dir', tmp], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const made = JSON.parse(out.stdout);
  const cert = readFileSync(made.certPath, 'utf8');
  assert.equal(new X509Certificate(cert).fingerprint.replaceAll(':', ''), made.thumbprint);
  const r = await api('PUT', `/devices/${id}`, {
    deviceId: id,
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: made.thumbprint, secondaryThumbprint: null } },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.authentication.type, 'selfSigned');

  const client = Client.fromConnectionString(`HostName=${ready.hostName};DeviceId=${id};x509=true;GatewayHostName=localhost`, MqttWs);
  client.setRetryPolicy(new NoRetry());
  await client.setOptions({ cert, key: readFileSync(made.keyPath, 'utf8'), mqtt: { webSocketAgent: emulatorAgent() }, ca: readFileSync(ready.certPath, 'utf8') });
  try {
    await client.open();
    await client.sendEvent(new Message('signed by a certificate'));
    const items = await waitFor('x509 telemetry', async () => {
      const t = await api('GET', `/emulator/telemetry?deviceId=${id}`);
      return t.json.items.length >= 1 && t.json.items;
    });
    assert.equal(items[0].body, 'signed by a certificate');
    const conn = await api('GET', `/emulator/devices/${id}/connection`);
    assert.equal(conn.json.connected, true);
  } finally {
    await client.close();
  }

  // Another device's certificate is refused.
  const other = JSON.parse(spawnSync(bin, ['cert', '--subject', 'other', '--out-dir', tmp], { encoding: 'utf8' }).stdout);
  const stranger = Client.fromConnectionString(`HostName=${ready.hostName};DeviceId=${id};x509=true;GatewayHostName=localhost`, MqttWs);
  stranger.setRetryPolicy(new NoRetry());
  await stranger.setOptions({ cert: readFileSync(other.certPath, 'utf8'), key: readFileSync(other.keyPath, 'utf8'), mqtt: { webSocketAgent: emulatorAgent() } });
  await assert.rejects(stranger.open(), (e) => e.constructor.name === 'UnauthorizedError' || /unauthori|not authorized/i.test(e.message));
  await stranger.close().catch(() => {});
});

test('sdk device connects with the device policy key (SharedAccessKeyName=device)', async () => {
  await createDevice('sdk-policy');
  const p = await api('GET', '/emulator/policies/device');
  assert.equal(p.status, 200);
  assert.equal(p.json.rights, 'DeviceConnect');
  const cs = `HostName=${ready.hostName};DeviceId=sdk-policy;SharedAccessKeyName=device;SharedAccessKey=${p.json.primaryKey}`;
  const client = await openClient(cs);
  try {
    await client.sendEvent(new Message('policy-signed'));
    const conn = await api('GET', '/emulator/devices/sdk-policy/connection');
    assert.equal(conn.json.connected, true);
  } finally {
    await client.close();
  }
});

test('sdk modules exchange messages through an IoT Edge route (sendOutputEvent to inputMessage)', async () => {
  await createDevice('sdk-edge-routes');
  const keys = {};
  for (const m of ['sensor', 'filter']) {
    const r = await api('PUT', `/devices/sdk-edge-routes/modules/${m}`, { deviceId: 'sdk-edge-routes', moduleId: m });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    keys[m] = r.json.authentication.symmetricKey.primaryKey;
  }
  const routes = {
    routes: {
      sensorToFilter: 'FROM /messages/modules/sensor/outputs/temperature INTO BrokeredEndpoint("/modules/filter/inputs/input1")',
      filterUp: 'FROM /messages/modules/filter/outputs/* INTO $upstream',
    },
  };
  const put = await api('PUT', '/emulator/routes/sdk-edge-routes', routes);
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const cs = (m) => `HostName=${ready.hostName};DeviceId=sdk-edge-routes;ModuleId=${m};SharedAccessKey=${keys[m]}`;
  const filter = await openClient(cs('filter'), ModuleClient);
  const sensor = await openClient(cs('sensor'), ModuleClient);
  try {
    const received = new Promise((resolve) =>
      filter.on('inputMessage', (inputName, msg) => filter.complete(msg, () => resolve({ inputName, msg }))),
    );
    // The input subscription is made when the listener is added; give the SUBACK a moment.
    await waitFor('the input subscription', async () => {
      const c = await api('GET', '/emulator/devices/sdk-edge-routes/modules/filter/connection');
      return c.json.subscriptions.includes('devices/sdk-edge-routes/modules/filter/inputs/#');
    });
    const out = new Message(JSON.stringify({ t: 21.5 }));
    out.messageId = 'edge-1';
    out.properties.add('unit', 'C');
    await sensor.sendOutputEvent('temperature', out);
    const { inputName, msg } = await received;
    assert.equal(inputName, 'input1');
    assert.equal(msg.data.toString(), '{"t":21.5}');
    assert.equal(msg.messageId, 'edge-1');
    assert.equal(msg.properties.getValue('unit'), 'C');
    assert.equal(msg.properties.getValue('$.cmid'), 'sensor');
    // The filter forwards on its own output; both messages are in the telemetry log.
    await filter.sendOutputEvent('filtered', new Message('ok'));
    const items = await waitFor('both messages', async () => {
      const t = await api('GET', '/emulator/telemetry?deviceId=sdk-edge-routes');
      return t.json.items.length >= 2 && t.json.items;
    });
    assert.deepEqual(
      items.map((i) => [i.moduleId, i.systemProperties.outputName]),
      [
        ['sensor', 'temperature'],
        ['filter', 'filtered'],
      ],
    );
    const q = await api('GET', '/emulator/routes/sdk-edge-routes');
    assert.deepEqual(q.json.inputQueues.filter, { pending: 0, dropped: 0 }, 'the input message was acknowledged');
  } finally {
    await sensor.close();
    await filter.close();
  }
});
