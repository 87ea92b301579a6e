// A Plug and Play device provisioned through DPS, for Node 22+, Deno and Bun:
//
//   HUBWIRE_EMULATOR='<the emulator ready JSON>' node examples/pnp/main.mjs
//
// Against the local emulator it first creates a symmetric-key enrollment group (the
// service side a real deployment does in the Azure portal), then provisions the device
// with `DeviceClient.fromProvisioning` (the group key is derived into the device key in
// the process: keep group keys off devices you do not control), runs the temperature
// controller (two thermostat components), sends one round of telemetry and prints a
// JSON summary. tests/runtimes/provisioning.test.mjs runs it.
import { DeviceClient } from "hubwire/provisioning";
import { pnp } from "hubwire/pnp";
import { ServiceClient } from "../shared/service.mjs";
import { MODEL_ID, temperatureController } from "./temperature-controller.js";

const env = (k) => (typeof Deno !== "undefined" ? Deno.env.get(k) : process.env[k]);
const emulator = JSON.parse(env("HUBWIRE_EMULATOR"));
const service = new ServiceClient(emulator);
const group = `pnp-example-${Date.now()}`;
const enrollment = await service.request("PUT", `/enrollmentGroups/${group}`, { attestation: { type: "symmetricKey" } });
const registrationId = `${group}-dev1`;

const t0 = Date.now();
const client = await DeviceClient.fromProvisioning({
  idScope: emulator.dps.idScope,
  registrationId,
  groupKey: enrollment.attestation.symmetricKey.primaryKey,
  modelId: MODEL_ID,
  url: emulator.wsUrl, // DPS and the hub of the emulator share one endpoint
});
const provisionMs = Date.now() - t0;
const device = pnp(client);
const controller = temperatureController(client, device);
await controller.start();
await controller.sendTelemetry();
const twin = await client.getTwin();
client.close();
console.log(JSON.stringify({
  ok: true,
  runtime: typeof Deno !== "undefined" ? `deno-${Deno.version.deno}` : typeof Bun !== "undefined" ? `bun-${Bun.version}` : `node-${process.versions.node}`,
  assignedHub: client.provisioning.assignedHub,
  deviceId: client.provisioning.deviceId,
  provisionMs,
  serialNumber: twin.reported.serialNumber,
  thermostat1: twin.reported.thermostat1,
}));
