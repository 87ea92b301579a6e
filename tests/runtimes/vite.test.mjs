// examples/vite-app, with the packed tarball installed, built by `vite build`
// with no configuration, served from loopback and opened in headless Chromium
// (Debian's /usr/bin/chromium via playwright-core): the page connects to the
// emulator and sends telemetry that the emulator receives.
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { noChromium, pageSendsTelemetry as pageSends, serveStatic as serve } from "./browser-page.mjs";
import { bin, freePort, installPackage, repo, runProcess, startEmulator, startProcess } from "./helpers.mjs";

let emu;
let app;
const servers = [];

before(async () => {
  emu = await startEmulator();
  app = installPackage("vite-app", { from: join(repo, "examples", "vite-app") });
});

after(async () => {
  await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  await emu?.stop();
});

/** Opens the app at `origin` in headless Chromium for a fresh device; asserts the emulator got its telemetry. */
const pageSendsTelemetry = (origin, label) => pageSends(emu, origin, { label, app: "vite", screenshotDir: app.dir });
const serveStatic = (root, extra) => serve(servers, root, extra);

test("vite_build_no_config_chromium_telemetry_succeeds", async (t) => {
  if (noChromium(t)) return;

  const build = await runProcess(bin("vite"), ["build"], { cwd: app.dir, timeoutMs: 180000 });
  assert.equal(build.code, 0, `vite build failed:\n${build.stdout}\n${build.stderr}`);
  const dist = join(app.dir, "dist");
  const assets = readdirSync(join(dist, "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `no .wasm asset emitted: ${assets}`);
  for (const f of assets.filter((a) => a.endsWith(".js"))) {
    const js = readFileSync(join(dist, "assets", f), "utf8");
    assert.doesNotMatch(js, /["']node:|require\(["']/, `${f} refers to Node modules`);
  }

  const origin = await serveStatic(dist);
  await pageSendsTelemetry(origin, "build");
});

test("vite_dev_server_no_config_chromium_telemetry_succeeds", async (t) => {
  if (noChromium(t)) return;
  const port = await freePort();
  const dev = startProcess(bin("vite"), ["--host", "127.0.0.1", "--port", String(port), "--strictPort"], { cwd: app.dir });
  try {
    const origin = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 300 && dev.child.exitCode === null && !up; i++) {
      up = await fetch(origin).then((r) => r.ok, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(up, `vite dev server did not start:\n${dev.out.stdout}\n${dev.out.stderr}`);
    await pageSendsTelemetry(origin, "dev");
  } finally {
    await dev.stop();
  }
});

test("browser_import_map_no_bundler_chromium_telemetry_succeeds", async (t) => {
  if (noChromium(t)) return;
  // examples/browser-esm/index.html maps "hubwire" to the package's browser.js; main.js is the Vite app's, unbundled.
  const root = join(app.dir, "browser-esm");
  cpSync(join(repo, "examples", "browser-esm"), root, { recursive: true });
  cpSync(join(app.dir, "node_modules"), join(root, "node_modules"), { recursive: true, dereference: true });
  const origin = await serveStatic(root, { "/main.js": join(repo, "examples", "vite-app", "main.js") });
  await pageSendsTelemetry(origin, "esm");
});
