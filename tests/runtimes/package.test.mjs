// The packed tarball itself: what it contains, its export conditions, and that
// each condition's entry loads in the runtime it is for (no Node polyfills, no
// stray files), plus its size.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, test } from "node:test";
import { bin, installPackage, repo, runProcess } from "./helpers.mjs";

let app;
let pkgDir;
let pkg;

before(() => {
  app = installPackage("package");
  pkgDir = join(app.dir, "node_modules", "hubwire");
  pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
});

test("package_manifest_esm_exports_succeeds", () => {
  assert.equal(pkg.name, "hubwire");
  assert.equal(pkg.type, "module");
  assert.equal(pkg.main, undefined, "ESM only: no CommonJS main");
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
  assert.deepEqual(pkg.bin, { hubwire: "./fleet/cli.js" }, "npx hubwire fleet");
  const dot = pkg.exports["."];
  assert.deepEqual(Object.keys(dot), ["types", "workerd", "browser", "deno", "bun", "node", "default"]);
  for (const target of [...Object.values(dot), pkg.exports["./cloudflare"].types, pkg.exports["./cloudflare"].default, pkg.exports["./hubwire_bg.wasm"]]) {
    assert.ok(existsSync(join(pkgDir, target)), `exports target ${target} is not in the tarball`);
  }
  for (const f of pkg.sideEffects) assert.ok(existsSync(join(pkgDir, f)), `sideEffects lists missing ${f}`);
});

test("package_tarball_contents_and_size_succeeds", () => {
  const sizes = JSON.parse(readFileSync(join(dirname(app.tarball), "sizes.json"), "utf8"));
  const files = sizes.packedFiles;
  for (const f of ["package.json", "README.md", "LICENSE", "index.d.ts", "browser.js", "node.js", "workerd.js", "cloudflare.js", "cloudflare.d.ts", "wasm/hubwire.js", "wasm/hubwire.d.ts", "wasm/hubwire_bg.wasm"]) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files}`);
  }
  for (const f of files) assert.match(f, /^(package\.json|README\.md|LICENSE|[a-z-]+\.(js|d\.ts)|wasm(-dps)?\/.+|fleet\/[a-z-]+\.js)$/, `unexpected file ${f} in the tarball`);
  for (const f of ["provisioning.js", "provisioning-node.js", "provisioning.d.ts", "pnp.js", "pnp.d.ts", "wasm-dps/hubwire.js", "wasm-dps/hubwire_bg.wasm"]) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files}`);
  }
  assert.ok(files.includes("fleet/cli.js"), "the hubwire fleet CLI is in the tarball");
  const tgz = statSync(app.tarball).size;
  console.log(`hubwire tarball ${tgz} B; wasm ${sizes.wasm} B (gzip ${sizes.wasmGzip} B, brotli ${sizes.wasmBrotli} B); glue ${sizes.glueJs} B`);
  assert.ok(tgz < 1024 * 1024, `tarball is ${tgz} B`);
});

test("package_license_one_source_npm_and_crate_succeeds", async () => {
  // One LICENSE at the repository root: the npm tarball ships it, the crate package lists it,
  // and both manifests say the same licence.
  const root = readFileSync(join(repo, "LICENSE"), "utf8");
  assert.match(root, /^MIT License\n/);
  assert.equal(readFileSync(join(pkgDir, "LICENSE"), "utf8"), root, "the tarball's LICENSE is not the repository's");
  assert.equal(pkg.license, "MIT");
  assert.match(readFileSync(join(repo, "Cargo.toml"), "utf8"), /^\[workspace\.package\][^[]*^license = "MIT"$/m);
  assert.ok(!existsSync(join(repo, "packaging", "LICENSE")), "a second LICENSE under packaging/");
  const list = await runProcess("cargo", ["package", "--list", "--allow-dirty", "-p", "hubwire"], { cwd: repo, timeoutMs: 120000 });
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.stdout.split("\n").includes("LICENSE"), `cargo package --list lacks LICENSE:\n${list.stdout}`);
});

test("package_entries_no_node_globals_succeeds", () => {
  for (const f of ["browser.js", "workerd.js", "cloudflare.js", "wasm/hubwire.js"]) {
    const src = readFileSync(join(pkgDir, f), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    assert.doesNotMatch(src, /from\s+["']node:|require\(|\bBuffer\.|\bprocess\./, `${f} depends on Node`);
  }
  const wasm = new WebAssembly.Module(readFileSync(join(pkgDir, "wasm", "hubwire_bg.wasm")));
  const modules = new Set(WebAssembly.Module.imports(wasm).map((i) => i.module));
  assert.ok(!modules.has("env"), `the wasm imports "env": ${[...modules]}`);
});

const PROBE = `import { DeviceClient } from "hubwire";
import { webSocketFactory } from "hubwire/cloudflare";
const c = DeviceClient.fromConnectionString("HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5");
console.log(JSON.stringify({ state: c.state, factory: typeof webSocketFactory, entry: import.meta.resolve("hubwire").split("/").pop() }));
c.close();
`;

for (const [name, cmd, args] of [
  ["node22", () => bin("node"), ["probe.mjs"]],
  ["deno", () => bin("deno"), ["run", "--allow-read", "probe.mjs"]],
  ["bun", () => bin("bun"), ["probe.mjs"]],
  ["system_node", () => "node", ["probe.mjs"]],
]) {
  test(`package_import_${name}_succeeds`, async () => {
    writeFileSync(join(app.dir, "probe.mjs"), PROBE);
    const r = await runProcess(cmd(), args, { cwd: app.dir, timeoutMs: 60000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // Each of these runtimes must pick node.js (export conditions node / deno / bun).
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()), { state: "disconnected", factory: "function", entry: "node.js" });
  });
}

/** Node 20 without --experimental-websocket and without a factory: what the user sees. */
let noWebSocket;
async function node20WithoutWebSocket(t) {
  if (noWebSocket) return noWebSocket;
  const v = await runProcess("node", ["-p", "process.versions.node + ' ' + typeof WebSocket"], {});
  if (!v.stdout.startsWith("20.") || !v.stdout.includes("undefined")) {
    t.skip(`system node: ${v.stdout.trim()}`);
    return null;
  }
  writeFileSync(
    join(app.dir, "nows.mjs"),
    `import { DeviceClient } from "hubwire";
const c = DeviceClient.fromConnectionString("HostName=h;DeviceId=d;SharedAccessKey=a2V5", { url: "ws://127.0.0.1:9/$iothub/websocket" });
let firstError = null;
c.on("error", (e) => { firstError ??= { code: e.code, message: e.message, retryable: e.retryable }; });
const connect = await Promise.race([
  c.connect().then(() => "resolved", (e) => "rejected " + e.code),
  new Promise((r) => setTimeout(() => r("pending after 3 s"), 3000)),
]);
console.log(JSON.stringify({ firstError, connect, state: c.state }));
c.close();
`,
  );
  const r = await runProcess("node", ["nows.mjs"], { cwd: app.dir, timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  noWebSocket = JSON.parse(r.stdout.trim().split("\n").pop());
  return noWebSocket;
}

test("connect_node20_without_websocket_error_event_fails", async (t) => {
  const out = await node20WithoutWebSocket(t);
  if (!out) return;
  assert.equal(out.firstError?.code, "TRANSPORT", JSON.stringify(out));
  assert.match(out.firstError.message, /webSocketFactory/);
});

test("connect_node20_without_websocket_rejects_fails", async (t) => {
  const out = await node20WithoutWebSocket(t);
  if (!out) return;
  assert.equal(out.connect, "rejected TRANSPORT", JSON.stringify(out));
  assert.equal(out.state, "disconnected", JSON.stringify(out));
});
