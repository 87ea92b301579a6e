// `npx hubwire fleet` from the packed npm package: the bin is installed, finds
// the package's own client (node.js entry), and runs a fleet against the emulator
// under the system node (Node 20: the fleet's node:net WebSocket needs no global one)
// and node@22.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { bin, installPackage, runProcess, startEmulator } from "../runtimes/helpers.mjs";

let app;
let emu;

before(async () => {
  app = installPackage("fleet-bin");
  emu = await startEmulator();
});

after(async () => {
  await emu?.stop();
});

for (const [name, node] of [["system_node", () => "node"], ["node22", () => bin("node")]]) {
  test(`npx_hubwire_fleet_${name}_succeeds`, async () => {
    const version = await runProcess("npx", ["--no-install", "hubwire", "--version"], { cwd: app.dir, timeoutMs: 60000 });
    assert.equal(version.code, 0, version.stderr);
    const pkg = JSON.parse(readFileSync(join(app.dir, "node_modules", "hubwire", "package.json"), "utf8"));
    assert.equal(version.stdout.trim(), pkg.version);
    const cli = join(app.dir, "node_modules", ".bin", "hubwire");
    const r = await runProcess(node(), [cli, "fleet", "--service-connection-string", emu.serviceConnectionString, "--url", emu.wsUrl,
      "--prefix", `pkg-${name}-`, "--count", "20", "--messages", "3", "--interval", "0.2", "--ramp-per-sec", "0", "--progress", "off",
      "--report", "r.json", "--max-error-rate", "0"], { cwd: app.dir, timeoutMs: 90000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /hubwire from .*node_modules\/hubwire\/node\.js/);
    const rep = JSON.parse(readFileSync(join(app.dir, "r.json"), "utf8"));
    assert.equal(rep.tool.version, pkg.version);
    assert.equal(rep.totals.acked, 60);
    assert.equal(rep.connect.connected, 20);
  });
}

test("npx_hubwire_usage_fails", async () => {
  const r = await runProcess("npx", ["--no-install", "hubwire", "nonsense"], { cwd: app.dir, timeoutMs: 60000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: hubwire fleet/);
});
