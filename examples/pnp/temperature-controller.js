// The temperature controller of the IoT Plug and Play samples
// (dtmi:com:example:TemperatureController;2) over hubwire's `pnp()` helpers (`hubwire/pnp`):
// two components of dtmi:com:example:Thermostat;1, "thermostat1" and "thermostat2",
// each with
//   - telemetry    `temperature` (sent with `component`, i.e. `$.sub`),
//   - a read-only  `maxTempSinceLastReboot` (a component reported property),
//   - a writable   `targetTemperature`, acknowledged {value, ac, av, ad},
//   - a command    `getMaxMinReport` (method `thermostat1*getMaxMinReport`),
// and on the default component a read-only `serialNumber`, telemetry `workingSet`
// and the command `reboot`.
//
// It imports nothing: pass it a `DeviceClient` and `pnp(client)`, so the same file
// runs under Node, Deno, Bun and in a browser (examples/pnp/main.mjs, and the
// headless-Chromium test tests/web_dps.rs).

export const MODEL_ID = "dtmi:com:example:TemperatureController;2";
export const THERMOSTATS = ["thermostat1", "thermostat2"];

/**
 * @param {import("hubwire").DeviceClient} client  connected (or about to be)
 * @param {import("hubwire/pnp").PnpDevice} device     `pnp(client)`
 * @param {{ serialNumber?: string, log?: (line: string) => void }} [opts]
 */
export function temperatureController(client, device, { serialNumber = "SN-000001", log = () => {} } = {}) {
  const startTime = new Date().toISOString();
  const thermostats = Object.fromEntries(
    THERMOSTATS.map((c) => [c, { temperature: 21, max: 21, min: 21, sum: 21, count: 1 }]),
  );
  const record = (t, value) => {
    t.temperature = value;
    t.max = Math.max(t.max, value);
    t.min = Math.min(t.min, value);
    t.sum += value;
    t.count += 1;
  };

  for (const component of THERMOSTATS) {
    const t = thermostats[component];
    device.onProperty(component, "targetTemperature", async (value, { version }) => {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        return { ac: 400, ad: "targetTemperature must be a number" };
      }
      log(`${component}: targetTemperature ${value} (desired $version ${version})`);
      record(t, value);
      await device.reportProperties(component, { maxTempSinceLastReboot: t.max });
      return { ac: 200, ad: "Successfully updated target temperature" };
    });
    device.onCommand(component, (req) => {
      if (req.command !== "getMaxMinReport") {
        return { status: 404, payload: { message: `${component} has no command ${req.command}` } };
      }
      return {
        status: 200,
        payload: {
          maxTemp: t.max,
          minTemp: t.min,
          avgTemp: t.sum / t.count,
          startTime: typeof req.payload === "string" ? req.payload : startTime,
          endTime: new Date().toISOString(),
        },
      };
    });
  }
  device.onCommand(null, (req) => {
    if (req.command !== "reboot") return { status: 404, payload: { message: `no command ${req.command}` } };
    for (const t of Object.values(thermostats)) Object.assign(t, { max: t.temperature, min: t.temperature, sum: t.temperature, count: 1 });
    return { status: 200, payload: { rebooted: true } };
  });

  return {
    thermostats,
    /** Reports the read-only properties, then acknowledges desired values sent while offline. */
    async start() {
      await device.reportProperties(null, { serialNumber });
      for (const c of THERMOSTATS) await device.reportProperties(c, { maxTempSinceLastReboot: thermostats[c].max });
      await device.start();
    },
    /** One round of telemetry: `temperature` per component, `workingSet` on the default one. */
    async sendTelemetry() {
      await Promise.all([
        ...THERMOSTATS.map((c) => client.sendEvent({ temperature: thermostats[c].temperature }, { component: c })),
        client.sendEvent({ workingSet: 1024 }),
      ]);
    },
  };
}
