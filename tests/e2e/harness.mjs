// Shared setup for the dashboard's browser end-to-end tests: the emulator (started here
// or taken from the environment), headless Debian Chromium through playwright-core, a
// console-error trap, screenshots under artifacts/, and a service API client for checks.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { launchChromium } from "../support/chromium.mjs";
import { ServiceClient } from "../../www/js/service.js";
import { launchEmulator, sharedEmulator } from "../support/emulator.mjs";
import { findSecrets, tokenSecrets, withoutCredentialBanner } from "../../scripts/soak/secrets.mjs";
import { connectToken } from "../../scripts/soak/web/device.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = path.join(ROOT, "artifacts", "e2e");

/** Launch headless Chromium (HUBWIRE_CHROMIUM or /usr/bin/chromium). */
export { launchChromium as launchBrowser } from "../support/chromium.mjs";

/**
 * The emulator under test: the one scripts/test.sh runs when it serves the dashboard and pkg/,
 * else our own (tests/support/emulator.mjs; HUBWIRE_EMULATOR_BIN or target/debug/hubwire-emulator)
 * serving www/ and pkg/ (or HUBWIRE_PKG_DIR), its log in artifacts/e2e/emulator.log.
 */
export async function startEmulator() {
  const shared = await sharedEmulator({ serves: ["/", "/pkg/hubwire.js"] });
  if (shared) {
    // scripts/test.sh exports where the shared emulator logs: scan it too when done.
    const log = process.env.HUBWIRE_EMULATOR_LOG;
    return { httpUrl: shared.httpUrl, info: shared, stop: async () => log && fs.existsSync(log) && scanEmulatorLog(log, shared) };
  }
  // The dps build (pkg-dps/, a superset of pkg/) when there is one: the dashboard's Provision mode needs it.
  const dpsDir = path.join(ROOT, "pkg-dps");
  const pkgDir = process.env.HUBWIRE_PKG_DIR ? path.resolve(process.env.HUBWIRE_PKG_DIR)
    : fs.existsSync(path.join(dpsDir, "hubwire.js")) ? dpsDir : path.join(ROOT, "pkg");
  if (!fs.existsSync(path.join(pkgDir, "hubwire.js"))) {
    throw new Error("pkg/hubwire.js is missing: run `node packaging/web.mjs` (or scripts/test.sh wasm_build) first");
  }
  const logFile = path.join(ARTIFACTS, "emulator.log");
  const emu = await launchEmulator({
    staticDir: path.join(ROOT, "www"),
    pkgDir,
    stateFile: true,
    logFile,
  });
  return {
    httpUrl: emu.httpUrl,
    info: emu.info,
    stop: async () => {
      try {
        scanEmulatorLog(logFile, emu.info);
      } finally {
        await emu.stop();
      }
    },
  };
}

/** The secret scan of an emulator's log (its credential banner aside): docs/reliability.md. */
function scanEmulatorLog(logPath, info) {
  const leaks = findSecrets([{ where: logPath, text: withoutCredentialBanner(fs.readFileSync(logPath, "utf8")) }], knownSecrets(info));
  if (leaks.length) throw new Error(`secrets in the emulator log: ${JSON.stringify(leaks)}`);
}

/** The keys of an emulator's ready info: the service key and the demo device's key. */
function knownSecrets(info) {
  const key = (cs) => (/SharedAccessKey=([^;]+)/.exec(cs || "") || [])[1];
  return [
    { kind: "service key", value: key(info.serviceConnectionString) },
    { kind: "demo device key", value: key(info.demoDevice && info.demoDevice.connectionString) },
  ].filter((s) => s.value);
}

/** A service API client for assertions, signing with the emulator's service connection string. */
export function serviceFor(emu) {
  return new ServiceClient(emu.info.serviceConnectionString, emu.httpUrl);
}

/**
 * Open the dashboard in a fresh context. Every console error and uncaught page error is
 * recorded; `finish(name)` saves artifacts/e2e/<name>.png, closes the page and returns the
 * errors so the test can fail on them.
 */
export async function openDashboard(browser, emu, { viewport = { width: 1440, height: 1000 }, init } = {}) {
  const context = await browser.newContext({ viewport });
  if (init) await context.addInitScript(init); // runs before the page's own scripts
  const page = await context.newPage();
  const errors = [];
  // The secret scan (docs/reliability.md): every console line and page error, and the page's
  // logs and alerts, must show no key and no token in use (device tokens are read from the
  // CONNECT frames the page sends, service tokens from its Authorization headers).
  const logs = [];
  const secrets = knownSecrets(emu.info);
  page.on("console", (m) => {
    logs.push(`console.${m.type()}: ${m.text()}`);
    if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
  });
  page.on("pageerror", (e) => {
    logs.push(`pageerror: ${e.message} ${e.stack || ""}`);
    errors.push(`pageerror: ${e.message}`);
  });
  page.on("websocket", (ws) =>
    ws.on("framesent", (f) => {
      const t = typeof f.payload === "string" ? null : connectToken(f.payload);
      if (t) secrets.push(...tokenSecrets(t));
    }),
  );
  page.on("request", (r) => {
    const a = r.headers().authorization;
    if (a && a.startsWith("SharedAccessSignature ")) secrets.push(...tokenSecrets(a));
  });
  page.on("response", async (r) => {
    if (!/\/devices\//.test(new URL(r.url()).pathname)) return;
    try {
      const k = (await r.json()).authentication.symmetricKey;
      secrets.push({ kind: "device key", value: k.primaryKey }, { kind: "device key", value: k.secondaryKey });
    } catch {
      // not an identity
    }
  });
  // Works offline: nothing may be fetched from anywhere but the emulator (no CDN, no fonts).
  const origin = new URL(emu.httpUrl).origin;
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:")) errors.push(`request outside the emulator: ${u}`);
  });
  await page.goto(`${emu.httpUrl}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20000 });
  const wasm = await page.getAttribute("body", "data-wasm");
  if (wasm !== "ready") throw new Error(`the wasm client did not load (data-wasm=${wasm}): ${await page.textContent("#banner")}`);
  let closed = false;
  return {
    page,
    errors,
    async screenshot(name, opts = {}) {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const file = path.join(ARTIFACTS, `${name}.png`);
      // The top bar is sticky: scroll home so a full-page shot has it on top.
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: file, ...opts });
      return file;
    },
    async finish(name, opts) {
      if (closed) return errors;
      if (name) await this.screenshot(name, opts);
      const shown = await page.evaluate(() =>
        [...document.querySelectorAll("[role=log], [role=alert], [role=status]")].map((e) => e.textContent).join("\n"),
      );
      const texts = [...logs.map((text) => ({ where: "console", text })), { where: "page logs and alerts", text: shown }];
      for (const f of findSecrets(texts, secrets)) errors.push(`secret shown: ${f.kind} in ${f.where}: ${f.context}`);
      closed = true;
      await context.close();
      return errors;
    },
  };
}

/** Click Connect with what the page prefilled (the demo device) and wait for "connected". */
export async function connectDemo(page) {
  await page.click("#connect-btn");
  await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
}

/** Poll `fn` until it returns a truthy value (returned) or `ms` pass (throws with `what`). */
export async function eventually(fn, what, ms = 15000, every = 200) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/**
 * The telemetry cursor "now": pass it as `after` to see only what arrives from here on
 * (the emulator may hold other suites' messages when scripts/test.sh shares it).
 */
export async function telemetryCursor(service) {
  let cursor = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await service.telemetry({ after: cursor, limit: 1000 });
    if (!r.items.length) return cursor;
    cursor = r.next;
  }
  return cursor;
}

/** Integer text content of an element. */
export async function num(page, selector) {
  return Number((await page.textContent(selector)).trim());
}

/**
 * The fixture the dashboard test files share: before their tests an emulator, a browser
 * (`launch`, default the Playwright Chromium) and a service client, handed to `set`
 * (`let emu, browser, service; withEmulatorAndBrowser((e) => ({ emu, browser, service } = e));`);
 * after them both are stopped.
 */
export function withEmulatorAndBrowser(set, { launch = launchChromium } = {}) {
  const e = { emu: null, browser: null, service: null };
  before(async () => {
    e.emu = await startEmulator();
    e.browser = await launch();
    e.service = serviceFor(e.emu);
    set(e);
  });
  after(async () => {
    await e.browser?.close();
    await e.emu?.stop();
  });
}

/**
 * Runs `body(page, d)` on a fresh dashboard (openDashboard with `opts`), then always
 * screenshots and closes it, and fails on console errors except those matching
 * `opts.allowConsole` (Chromium itself logs a failed WebSocket handshake; a test that
 * provokes one says so).
 */
export async function onDashboard(browser, emu, name, body, opts = {}) {
  const d = await openDashboard(browser, emu, opts);
  let failure = null;
  try {
    await body(d.page, d);
  } catch (e) {
    failure = e;
  }
  const errors = await d.finish(name, { fullPage: true });
  if (failure) throw failure;
  const unexpected = opts.allowConsole ? errors.filter((e) => !opts.allowConsole.test(e)) : errors;
  assert.deepEqual(unexpected, [], "the page logged console errors");
}
