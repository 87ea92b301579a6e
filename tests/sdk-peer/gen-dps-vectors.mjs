// Generates src/dps/tests/vectors.json from the official Node provisioning SDK:
//
//   cd tests/sdk-peer && npm ci && node gen-dps-vectors.mjs
//
// - SAS tokens: azure-iot-security-symmetric-key's SymmetricKeySecurityClient
//   (its expiry is "an hour from now", recorded with the token) and the
//   azure-iot-common SharedAccessSignature.create it calls, with fixed expiries;
// - derived group keys: the official sample's computeDerivedSymmetricKey
//   (azure-iot-sdk-node provisioning/device/samples/register_symkeygroup.js),
//   then a token signed with each derived key by the security client;
// - a wire transcript: azure-iot-provisioning-device's ProvisioningDeviceClient
//   over azure-iot-provisioning-device-mqtt's MqttWs, with a recording stand-in
//   for its MQTT connection that answers 202 assigning, then 200 assigned.
//
// The Rust side (src/dps/tests/vectors.rs) rebuilds every value and compares.

import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import provisioning from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetric from 'azure-iot-security-symmetric-key';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../src/dps/tests/vectors.json');
// The azure-iot-common the provisioning packages use (their pinned copy).
const requireFromTransport = createRequire(createRequire(import.meta.url).resolve('azure-iot-provisioning-device-mqtt'));
const { SharedAccessSignature } = requireFromTransport('azure-iot-common');

const { ProvisioningDeviceClient } = provisioning;
const { MqttWs } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetric;

const KEYS = [
  'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=',
  'c2VjcmV0LWtleS1vZi1hLWdyb3VwLWVucm9sbG1lbnQ=',
];
const CASES = [
  { idScope: '0ne00FEEDC0DE', registrationId: 'my-registration-1' },
  { idScope: '0ne0000A0A0', registrationId: 'dev.01_a:b' },
  { idScope: '0NE12345678', registrationId: 'UPPER-lower-42' },
];

function computeDerivedSymmetricKey(masterKey, regId) {
  return createHmac('SHA256', Buffer.from(masterKey, 'base64')).update(regId, 'utf8').digest('base64');
}

async function securityClientToken(registrationId, key, idScope) {
  const sas = await new SymmetricKeySecurityClient(registrationId, key).createSharedAccessSignature(idScope);
  return sas.toString();
}

const sas = [];
for (const [i, c] of CASES.entries()) {
  const key = KEYS[i % KEYS.length];
  for (const expiry of [1700000000, 4102444800]) {
    const token = SharedAccessSignature.create(`${c.idScope}/registrations/${c.registrationId}`, 'registration', key, expiry).toString();
    sas.push({ ...c, key, expiry, token, source: 'azure-iot-common SharedAccessSignature.create' });
  }
  const token = await securityClientToken(c.registrationId, key, c.idScope);
  const expiry = Number(/[?&]se=(\d+)/.exec(token)[1]);
  sas.push({ ...c, key, expiry, token, source: 'azure-iot-security-symmetric-key SymmetricKeySecurityClient' });
}

const derived = [];
for (const groupKey of KEYS) {
  for (const c of CASES) {
    const derivedKey = computeDerivedSymmetricKey(groupKey, c.registrationId);
    const token = await securityClientToken(c.registrationId, derivedKey, c.idScope);
    const expiry = Number(/[?&]se=(\d+)/.exec(token)[1]);
    derived.push({ ...c, groupKey, derivedKey, expiry, token });
  }
}

// A stand-in for azure-iot-mqtt-base's MqttBase: records what the transport asks for
// and answers like DPS.
const OPERATION_ID = '4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d';
class RecordingMqtt extends EventEmitter {
  constructor(assigned) {
    super();
    this.assigned = assigned;
    this.log = { publishes: [], subscribes: [], unsubscribes: [] };
  }
  connect(config, done) {
    this.log.connect = {
      clientId: config.clientId,
      clean: config.clean,
      username: config.username,
      uri: config.uri,
      sharedAccessSignature: String(config.sharedAccessSignature),
    };
    setImmediate(() => done(null, { connack: {} }));
  }
  subscribe(topic, options, done) {
    this.log.subscribes.push({ topic, qos: options.qos });
    setImmediate(() => done(null));
  }
  unsubscribe(topic, done) {
    this.log.unsubscribes.push(topic);
    setImmediate(() => done(null));
  }
  disconnect(done) {
    this.log.disconnected = true;
    setImmediate(() => done(null));
  }
  publish(topic, payload, options, done) {
    const rid = /\$rid=([^&]+)/.exec(topic)[1];
    const register = topic.startsWith('$dps/registrations/PUT/iotdps-register/');
    const answer = register
      ? { topic: `$dps/registrations/res/202/?$rid=${rid}&retry-after=0`, body: { operationId: OPERATION_ID, status: 'assigning' } }
      : { topic: `$dps/registrations/res/200/?$rid=${rid}`, body: { operationId: OPERATION_ID, status: 'assigned', registrationState: this.assigned } };
    this.log.publishes.push({ topic, payload: String(payload), qos: options.qos, answer: { topic: answer.topic, body: JSON.stringify(answer.body) } });
    setImmediate(() => {
      done(null);
      this.emit('message', answer.topic, Buffer.from(JSON.stringify(answer.body)));
    });
  }
  setOptions() {}
}

const wire = [];
for (const [i, c] of CASES.entries()) {
  const key = KEYS[i % KEYS.length];
  const modelId = 'dtmi:com:example:TemperatureController;2';
  const assigned = {
    registrationId: c.registrationId,
    createdDateTimeUtc: '2023-11-14T22:13:20.123Z',
    assignedHub: 'contoso.azure-devices.net',
    deviceId: c.registrationId,
    status: 'assigned',
    substatus: 'initialAssignment',
    lastUpdatedDateTimeUtc: '2023-11-14T22:13:20.456Z',
    etag: 'IjEi',
  };
  const mqtt = new RecordingMqtt(assigned);
  const client = ProvisioningDeviceClient.create('global.azure-devices-provisioning.net', c.idScope, new MqttWs(mqtt), new SymmetricKeySecurityClient(c.registrationId, key));
  client.setProvisioningPayload({ modelId });
  const result = await client.register();
  wire.push({ ...c, key, modelId, provisioningHost: 'global.azure-devices-provisioning.net', ...mqtt.log, result });
}

const pkg = (name) => JSON.parse(readFileSync(createRequire(import.meta.url).resolve(`${name}/package.json`), 'utf8')).version;
const vectors = {
  generatedBy: 'tests/sdk-peer/gen-dps-vectors.mjs',
  packages: {
    'azure-iot-provisioning-device': pkg('azure-iot-provisioning-device'),
    'azure-iot-provisioning-device-mqtt': pkg('azure-iot-provisioning-device-mqtt'),
    'azure-iot-security-symmetric-key': pkg('azure-iot-security-symmetric-key'),
  },
  sas,
  derived,
  wire,
};
writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), out)}: ${sas.length} SAS, ${derived.length} derived keys, ${wire.length} wire transcripts`);
