// Shared by the bundler tests (vite.test.mjs, webpack.test.mjs): serving a built
// app from loopback and checking, in headless Chromium, that its page connects to
// the emulator and that the emulator got every message it sent.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { CHROMIUM, launchChromium } from "../support/chromium.mjs";

const MIME = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".svg": "image/svg+xml" };

/** Skips (or, with HUBWIRE_REQUIRE_PEERS=1 as in scripts/test.sh, fails) without Chromium. */
export function noChromium(t) {
  if (existsSync(CHROMIUM)) return false;
  const why = `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (process.env.HUBWIRE_REQUIRE_PEERS === "1") throw new Error(why);
  t.skip(why);
  return true;
}

/**
 * Serves `root` (and `extra`: url path -> file) on loopback; resolves the origin.
 * The server is pushed onto `servers` for the caller to close.
 */
export function serveStatic(servers, root, extra = {}) {
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

/**
 * Opens the app at `origin` in headless Chromium for a fresh device (`?cs=…&url=…&n=…`);
 * asserts the page reached "done" and the emulator holds its `n` messages, each with
 * `properties.app === app` and a body `{seq, from: \`${app}-app\`, userAgent}`.
 */
export async function pageSendsTelemetry(emu, origin, { label, app, screenshotDir }) {
  const service = new ServiceClient(emu);
  const deviceId = `${app}-${label}-${Math.random().toString(36).slice(2, 8)}`;
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
    if (screenshotDir) await page.screenshot({ path: join(screenshotDir, `screenshot-${label}.png`) });
    assert.equal(state, "done", `page state ${state}\nlog:\n${log}\nconsole:\n${consoleLines.join("\n")}`);

    const items = await service.telemetry(deviceId);
    assert.equal(items.length, n, `emulator holds ${items.length} messages from ${deviceId}`);
    const seqs = items.map((i) => JSON.parse(i.body).seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
    assert.ok(items.every((i) => i.properties.app === app && JSON.parse(i.body).from === `${app}-app`));
    assert.match(JSON.parse(items[0].body).userAgent, /Chrome\//);
  } finally {
    await browser.close();
    await service.deleteDevice(deviceId).catch(() => {});
  }
}
