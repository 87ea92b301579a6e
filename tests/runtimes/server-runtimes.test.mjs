// The shared device script (examples/shared/roundtrip.mjs) under Node 22, Deno
// and Bun — each the npm package's own binary from the root devDependencies —
// and under Node 20 with the `ws` package as webSocketFactory, against the
// emulator on loopback, importing `hubwire` from the packed tarball.
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { assertRoundtripResult, bin, emulatorJson, installPackage, lastJson, repo, runProcess, startEmulator } from "./helpers.mjs";

let emu;
let emuTls;
let app;

before(async () => {
  emu = await startEmulator();
  // examples/runtimes/*.mjs import "../shared/…": keep that layout in the scratch copy.
  app = installPackage("server-runtimes");
  cpSync(join(repo, "examples", "runtimes"), join(app.dir, "runtimes"), { recursive: true });
  cpSync(join(repo, "examples", "shared"), join(app.dir, "shared"), { recursive: true });
});

after(async () => {
  await emu?.stop();
  await emuTls?.stop();
});

async function roundtrip(cmd, args, runtimeLabel, t, env = { HUBWIRE_EMULATOR: emulatorJson(emu) }) {
  const r = await runProcess(cmd, args, { cwd: app.dir, env: { ...process.env, ...env }, timeoutMs: 90000 });
  const result = lastJson(r.stdout);
  const detail = `exit ${r.code}${r.timedOut ? " (timed out)" : ""}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.ok(result, `${runtimeLabel} printed no result; ${detail}`);
  assert.equal(result.ok, true, `${runtimeLabel}: ${result.error}; ${detail}`);
  assert.equal(r.code, 0, detail);
  assertRoundtripResult(result);
  t.diagnostic(`${result.runtime}: 100 QoS 1 messages acknowledged in ${result.sendMs} ms`);
  return result;
}

test("roundtrip_node22_global_websocket_succeeds", async (t) => {
  const r = await roundtrip(bin("node"), ["runtimes/main.mjs"], "node 22", t);
  assert.match(r.runtime, /^node-22\./);
});

test("roundtrip_deno_global_websocket_succeeds", async (t) => {
  const r = await roundtrip(bin("deno"), ["run", "--allow-env", "--allow-net", "--allow-read", "runtimes/main.mjs"], "deno", t);
  assert.match(r.runtime, /^deno-2\./);
});

test("roundtrip_bun_global_websocket_succeeds", async (t) => {
  const r = await roundtrip(bin("bun"), ["runtimes/main.mjs"], "bun", t);
  assert.match(r.runtime, /^bun-/);
});

test("roundtrip_node20_ws_factory_succeeds", async (t) => {
  // The machine's own node is 20 here; skip (saying so) where it is not.
  const v = await runProcess("node", ["-p", "process.versions.node"], {});
  if (!v.stdout.startsWith("20.")) return t.skip(`system node is ${v.stdout.trim()}, not 20`);
  const r = await roundtrip("node", ["runtimes/node20-ws.mjs"], "node 20 + ws", t);
  assert.match(r.runtime, /^node-20\..*-ws$/);
});

test("roundtrip_node20_experimental_websocket_succeeds", async (t) => {
  const v = await runProcess("node", ["-p", "process.versions.node"], {});
  if (!v.stdout.startsWith("20.")) return t.skip(`system node is ${v.stdout.trim()}, not 20`);
  const r = await roundtrip("node", ["--experimental-websocket", "--no-warnings", "runtimes/main.mjs"], "node 20 --experimental-websocket", t);
  assert.match(r.runtime, /^node-20\./);
});

// The same script over wss:// (TLS is the runtime's), the emulator's self-signed
// certificate trusted the way each runtime takes extra CAs.
for (const [name, cmd, args] of [
  ["node22", () => bin("node"), ["runtimes/main.mjs"]],
  ["deno", () => bin("deno"), ["run", "--allow-env", "--allow-net", "--allow-read", "--cert", "CERT", "runtimes/main.mjs"]],
  ["bun", () => bin("bun"), ["runtimes/main.mjs"]],
  ["node20_ws_factory", () => "node", ["runtimes/node20-ws.mjs"]],
]) {
  test(`roundtrip_${name}_wss_succeeds`, async (t) => {
    if (name.startsWith("node20")) {
      const v = await runProcess("node", ["-p", "process.versions.node"], {});
      if (!v.stdout.startsWith("20.")) return t.skip(`system node is ${v.stdout.trim()}, not 20`);
    }
    emuTls ??= await startEmulator({ tls: true });
    const env = { HUBWIRE_EMULATOR: emulatorJson(emuTls, { wss: true }), NODE_EXTRA_CA_CERTS: emuTls.certPath };
    const r = await roundtrip(cmd(), args.map((a) => (a === "CERT" ? emuTls.certPath : a)), `${name} over wss`, t, env);
    assert.equal(r.sent, 100);
  });
}
