// Headless Chromium for the browser tests (tests/e2e and tests/runtimes/vite.test.mjs):
// Debian's /usr/bin/chromium (or HUBWIRE_CHROMIUM) driven through playwright-core.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { endProcess } from "./process.mjs";

/** The Chromium binary the browser tests launch. */
export const CHROMIUM = process.env.HUBWIRE_CHROMIUM || "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const require = createRequire(path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../.."), "package.json"));

function loadPlaywright() {
  try {
    return require("playwright-core");
  } catch {
    throw new Error("playwright-core is not installed: run `npm ci` (or `npm install --no-save playwright-core`) in the repository root");
  }
}

/** Launches headless Chromium ({@link CHROMIUM}) with the flags every browser test uses. */
export async function launchChromium() {
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Headless Chromium ({@link CHROMIUM}) started here with a DevTools port and attached through
 * `connectOverCDP(…, { noDefaults: true })`: its pages have no focus emulation. Playwright
 * turns `Emulation.setFocusEmulationEnabled` on for every page it creates, which keeps the
 * page visible and makes CDP `Page.setWebLifecycleState` "frozen" a no-op; a page of this
 * browser's default context (`context.newPage()`) can really be frozen.
 * @returns {Promise<{ browser: import("playwright-core").Browser, context: import("playwright-core").BrowserContext, close(): Promise<void> }>}
 */
export async function launchChromiumFreezable() {
  const { chromium } = loadPlaywright();
  const { spawn } = await import("node:child_process");
  const { existsSync, mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const dir = mkdtempSync(path.join(os.tmpdir(), "hubwire-chromium-"));
  const child = spawn(CHROMIUM, ["--headless", ...CHROMIUM_ARGS, "--remote-debugging-port=0", `--user-data-dir=${dir}`, "about:blank"], { stdio: "ignore" });
  const close = async () => {
    await endProcess(child);
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    // Chromium writes the port it chose to DevToolsActivePort once it listens.
    const portFile = path.join(dir, "DevToolsActivePort");
    const deadline = Date.now() + 30000;
    while (!(existsSync(portFile) && readFileSync(portFile, "utf8").includes("\n"))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${CHROMIUM} wrote no DevToolsActivePort`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const port = readFileSync(portFile, "utf8").split("\n")[0];
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true });
    return {
      browser,
      context: browser.contexts()[0],
      async close() {
        await browser.close().catch(() => {});
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
