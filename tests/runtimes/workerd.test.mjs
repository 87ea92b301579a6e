// The shared device script inside workerd (the npm `workerd` binary): the
// worker in examples/cloudflare-worker imports "hubwire" (export condition
// `workerd`: the .wasm as a WebAssembly.Module) and "hubwire/cloudflare"
// (fetch-upgrade WebSockets), and runs the script when the test GETs it.
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, test } from "node:test";
import { assertRoundtripResult, bin, emulatorJson, freePort, installPackage, repo, runProcess, startEmulator, startProcess } from "./helpers.mjs";

let emu;
let emuTls;
let app;

before(async () => {
  emu = await startEmulator();
  app = installPackage("workerd");
  cpSync(join(repo, "examples", "cloudflare-worker"), join(app.dir, "cloudflare-worker"), { recursive: true });
  cpSync(join(repo, "examples", "shared"), join(app.dir, "shared"), { recursive: true });
});

after(async () => {
  await emu?.stop();
  await emuTls?.stop();
});

function files(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name), base) : [relative(base, join(dir, e.name))]));
}

/**
 * workerd has no module resolution of its own (wrangler bundles for it): name
 * each module the way the worker's imports spell it. workerd resolves every
 * specifier, bare ones too, against the importing module's name, so the
 * package's modules sit beside the worker: "cloudflare-worker/hubwire" is the
 * package's `workerd` export and its "./wasm/…" imports land on
 * "cloudflare-worker/wasm/…".
 */
function handNamedModules() {
  const pkgDir = join(app.dir, "node_modules", "hubwire");
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const q = (s) => JSON.stringify(s);
  const at = "cloudflare-worker";
  const modules = [
    `(name = "${at}/worker.mjs", esModule = embed ${q(`${at}/worker.mjs`)})`,
    `(name = "shared/roundtrip.mjs", esModule = embed ${q("shared/roundtrip.mjs")})`,
    `(name = "shared/service.mjs", esModule = embed ${q("shared/service.mjs")})`,
    `(name = "${at}/hubwire", esModule = embed ${q(`node_modules/hubwire/${pkg.exports["."].workerd}`)})`,
    `(name = "${at}/hubwire/cloudflare", esModule = embed ${q(`node_modules/hubwire/${pkg.exports["./cloudflare"].default}`)})`,
  ];
  for (const f of files(join(pkgDir, "wasm"))) {
    const kind = f.endsWith(".wasm") ? "wasm" : f.endsWith(".js") ? "esModule" : null;
    if (kind) modules.push(`(name = ${q(`${at}/wasm/${f}`)}, ${kind} = embed ${q(`node_modules/hubwire/wasm/${f}`)})`);
  }
  return modules;
}

/**
 * The worker as `wrangler deploy --dry-run --outdir` bundles it: wrangler picks
 * the package's `workerd` export and emits the .wasm as a module beside the bundle.
 */
async function wranglerModules() {
  const out = join(app.dir, "wrangler-out");
  const r = await runProcess(bin("node"), [join(repo, "node_modules", "wrangler", "bin", "wrangler.js"), "deploy", "--dry-run", "--outdir", out], {
    cwd: join(app.dir, "cloudflare-worker"),
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: join(app.dir, "wrangler-logs") },
    timeoutMs: 120000,
  });
  assert.equal(r.code, 0, `wrangler deploy --dry-run failed:\n${r.stdout}\n${r.stderr}`);
  const upload = r.stdout.match(/Total Upload: ([^\n]+)/);
  const q = (x) => JSON.stringify(x);
  const emitted = readdirSync(out).filter((f) => f.endsWith(".js") || f.endsWith(".wasm"));
  assert.ok(emitted.includes("worker.js") && emitted.some((f) => f.endsWith(".wasm")), `wrangler emitted ${emitted}`);
  const modules = [`(name = "worker.js", esModule = embed ${q("wrangler-out/worker.js")})`];
  for (const f of emitted.filter((x) => x !== "worker.js")) {
    modules.push(`(name = ${q(f)}, ${f.endsWith(".wasm") ? "wasm" : "esModule"} = embed ${q(`wrangler-out/${f}`)})`);
  }
  return { modules, upload: upload ? upload[1].trim() : "?" };
}

function capnpConfig(port, modules, { emulator = emu, wss = false } = {}) {
  const q = (s) => JSON.stringify(s);
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .roundtripWorker),
    # The default global outbound; the emulator is on loopback, which workerd
    # refuses unless "local" (and "private") are allowed.
    (name = "internet", network = (allow = ["public", "private", "local"]${wss ? ', tlsOptions = (trustedCertificates = [embed "emulator-cert.pem"])' : ""})),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);

const roundtripWorker :Workerd.Worker = (
  modules = [
    ${modules.join(",\n    ")}
  ],
  compatibilityDate = "2025-09-01",
  bindings = [ (name = "HUBWIRE_EMULATOR", text = ${q(emulatorJson(emulator, { wss }))}) ],
);
`;
}

/** Serves `modules` with workerd, GETs /roundtrip and checks the shared script's result. */
async function roundtripInWorkerd(modules, t, label, config = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(join(app.dir, "config.capnp"), capnpConfig(port, modules, config));
    const wd = startProcess(bin("workerd"), ["serve", "config.capnp", "--verbose"], { cwd: app.dir });
    try {
      // Wait for the socket; a port taken in between makes workerd exit: try another.
      let up = false;
      for (let i = 0; i < 200 && wd.child.exitCode === null; i++) {
        try {
          await fetch(`http://127.0.0.1:${port}/`);
          up = true;
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (!up) {
        lastErr = new Error(`workerd did not start:\n${wd.out.stderr}`);
        continue;
      }
      const resp = await fetch(`http://127.0.0.1:${port}/roundtrip`, { signal: AbortSignal.timeout(90000) });
      const result = await resp.json();
      const detail = `HTTP ${resp.status}: ${JSON.stringify(result, null, 2)}\nworkerd stderr:\n${wd.out.stderr}`;
      assert.equal(result.ok, true, detail);
      assert.equal(resp.status, 200, detail);
      assert.equal(result.runtime, "workerd");
      assertRoundtripResult(result);
      t.diagnostic(`workerd (${label}): 100 QoS 1 messages acknowledged in ${result.sendMs} ms`);
      return;
    } finally {
      await wd.stop();
    }
  }
  throw lastErr;
}

test("roundtrip_workerd_fetch_upgrade_succeeds", async (t) => {
  await roundtripInWorkerd(handNamedModules(), t, "modules named by hand");
});

test("roundtrip_workerd_wrangler_bundle_succeeds", async (t) => {
  const { modules, upload } = await wranglerModules();
  t.diagnostic(`wrangler bundle: ${upload}`);
  await roundtripInWorkerd(modules, t, "wrangler bundle");
});

test("roundtrip_workerd_wss_succeeds", async (t) => {
  // TLS by workerd's own stack; the emulator's self-signed certificate is trusted by the outbound service.
  emuTls ??= await startEmulator({ tls: true });
  cpSync(emuTls.certPath, join(app.dir, "emulator-cert.pem"));
  await roundtripInWorkerd(handNamedModules(), t, "wss", { emulator: emuTls, wss: true });
});
