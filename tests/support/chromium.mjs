// Headless Chromium for the browser tests (tests/e2e and tests/runtimes/vite.test.mjs):
// Debian's /usr/bin/chromium (or HUBWIRE_CHROMIUM) driven through playwright-core.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

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
