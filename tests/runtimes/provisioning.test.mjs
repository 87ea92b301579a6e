// `hubwire/provisioning` and `hubwire/pnp` from the packed tarball under Node 22, Deno
// and Bun (the provisioning-node.js entry): examples/pnp/main.mjs provisions a device
// through an enrollment group of the emulator's DPS, runs the Plug and Play temperature
// controller and sends telemetry, which the test then reads back from the emulator.
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { bin, emulatorJson, installPackage, lastJson, repo, runProcess, startEmulator } from "./helpers.mjs";

let emu;
let app;

before(async () => {
  emu = await startEmulator();
  app = installPackage("provisioning");
  cpSync(join(repo, "examples", "pnp"), join(app.dir, "pnp"), { recursive: true });
  cpSync(join(repo, "examples", "shared"), join(app.dir, "shared"), { recursive: true });
});

after(async () => {
  await emu?.stop();
});

for (const [name, cmd, args] of [
  ["node22", () => bin("node"), ["pnp/main.mjs"]],
  ["deno", () => bin("deno"), ["run", "--allow-env", "--allow-net", "--allow-read", "pnp/main.mjs"]],
  ["bun", () => bin("bun"), ["pnp/main.mjs"]],
]) {
  test(`provisioning_pnp_example_${name}_succeeds`, async (t) => {
    const r = await runProcess(cmd(), args, { cwd: app.dir, env: { ...process.env, HUBWIRE_EMULATOR: emulatorJson(emu) }, timeoutMs: 90000 });
    const detail = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    const out = lastJson(r.stdout);
    assert.ok(out && out.ok, detail);
    assert.equal(out.assignedHub, emu.hostName, detail);
    assert.equal(out.serialNumber, "SN-000001", detail);
    assert.equal(out.thermostat1.__t, "c", detail);
    // The telemetry reached the hub under the assigned identity, per component.
    const service = new ServiceClient(emu);
    const { items } = await service.request("GET", `/emulator/telemetry?deviceId=${encodeURIComponent(out.deviceId)}&after=0&limit=100`);
    const components = items.map((m) => m.systemProperties?.component ?? null).sort();
    assert.deepEqual(components, [null, "thermostat1", "thermostat2"], JSON.stringify(items));
    t.diagnostic(`${out.runtime}: provisioned in ${out.provisionMs} ms`);
  });
}
