// examples/vite-app, with the packed tarball installed, built by `vite build`
// with no configuration, served from loopback and opened in headless Chromium
// (Debian's /usr/bin/chromium via playwright-core): the page connects to the
// emulator and sends telemetry that the emulator receives.
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { CHROMIUM, launchChromium } from "../support/chromium.mjs";
import { bin, freePort, installPackage, repo, runProcess, startEmulator, startProcess } from "./helpers.mjs";

const MIME = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".svg": "image/svg+xml" };

/** Skips (or, with HUBWIRE_REQUIRE_PEERS=1 as in scripts/test.sh, fails) without Chromium. */
function noChromium(t) {
  if (existsSync(CHROMIUM)) return false;
  const why = `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (process.env.HUBWIRE_REQUIRE_PEERS === "1") throw new Error(why);
  t.skip(why);
  return true;
}

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
async function pageSendsTelemetry(origin, label) {
  const service = new ServiceClient(emu);
  const deviceId = `vite-${label}-${Math.random().toString(36).slice(2, 8)}`;
  const { connectionString } = await service.createDevice(deviceId);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const consoleLines = [];
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
    const n = 10;
    await page.goto(`${origin}/?${new URLSearchParams({ cs: connectionString, url: emu.wsUrl, n: String(n) })}`);
    await page
      .waitForFunction(() => /^(done|failed)/.test(document.getElementById("state").textContent), null, { timeout: 30000 })
      .catch(() => {});
    const state = await page.textContent("#state");
    const log = await page.textContent("#log");
    await page.screenshot({ path: join(app.dir, `screenshot-${label}.png`) });
    assert.equal(state, "done", `page state ${state}\nlog:\n${log}\nconsole:\n${consoleLines.join("\n")}`);

    const items = await service.telemetry(deviceId);
    assert.equal(items.length, n, `emulator holds ${items.length} messages from ${deviceId}`);
    const seqs = items.map((i) => JSON.parse(i.body).seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
    assert.ok(items.every((i) => i.properties.app === "vite" && JSON.parse(i.body).from === "vite-app"));
    assert.match(JSON.parse(items[0].body).userAgent, /Chrome\//);
  } finally {
    await browser.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
}

/** Serves `root` (and `extra`: url path -> file) on loopback; resolves the origin. */
function serveStatic(root, extra = {}) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
      const file = extra[path] || join(root, path === "/" ? "index.html" : path);
      if (!(extra[path] || file.startsWith(root)) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": MIME[extname(file)] || "application/octet-stream" });
      res.end(readFileSync(file));
    });
    servers.push(server);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

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
