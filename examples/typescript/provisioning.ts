// Types of `hubwire/provisioning` and `hubwire/pnp` under `tsc --strict` (tests/runtimes/typescript.test.mjs):
// `@ts-expect-error` lines fail to compile when misuse is *accepted*.
import { DeviceClient, type ProvisionedClient, type ProvisioningError, type ProvisioningOptions } from "hubwire/provisioning";
import { pnp, type PnpDevice, type PropertyAck } from "hubwire/pnp";

export async function provisionAndRun(idScope: string, key: string): Promise<string> {
  const options: ProvisioningOptions = {
    idScope,
    registrationId: "thermostat-42",
    symmetricKey: key,
    modelId: "dtmi:com:example:TemperatureController;2",
    payload: { site: "lab" },
    provisioningTimeoutMs: 60000,
    keepAliveSeconds: 60, // a ClientOptions field, for the hub client
    connect: false,
  };
  // @ts-expect-error idScope is required
  const missing: ProvisioningOptions = { registrationId: "x", symmetricKey: key };
  void missing;
  let client: ProvisionedClient;
  try {
    client = await DeviceClient.fromProvisioning(options);
  } catch (e) {
    const err = e as ProvisioningError;
    const code: string = err.code;
    const dps: number | undefined = err.errorCode;
    return `${code} ${dps ?? ""} ${err.trackingId ?? ""}`;
  }
  const hub: string = client.provisioning.assignedHub;
  const substatus: string | undefined = client.provisioning.substatus;
  await client.connect();
  const device: PnpDevice = pnp(client);
  device
    .onProperty("thermostat1", "targetTemperature", (value, ctx): PropertyAck => ({ ac: typeof value === "number" ? 200 : 400, ad: `v${ctx.version}` }))
    .onProperty(null, async () => undefined)
    .onCommand("thermostat1", (req) => ({ status: 200, payload: { command: req.command } }));
  // @ts-expect-error a command handler returns a MethodResponse
  device.onCommand(null, () => "ok");
  const version: number = await device.reportProperties("thermostat1", { maxTempSinceLastReboot: 30 });
  await device.start();
  client.close();
  return `${hub} ${substatus ?? ""} ${version}`;
}
