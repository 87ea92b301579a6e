// Shared plumbing of the reliability tests: an emulator child process serving the
// soak page (scripts/soak/web) and pkg/, the service API, devices, the hubwire
// package in this Node process and in a headless Chromium page.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ServiceClient } from "../../www/js/service.js";
import { EmulatorProcess } from "../support/emulator.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PKG = process.env.HUBWIRE_PKG_DIR ? path.resolve(process.env.HUBWIRE_PKG_DIR) : path.join(ROOT, "pkg");
export const EMULATOR_BIN =
  process.env.HUBWIRE_EMULATOR_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "debug", "hubwire-emulator");

/** A fresh emulator (its own state file) serving the soak page and pkg/. */
export async function startEmulator(extraArgs = []) {
  if (!fs.existsSync(path.join(PKG, "hubwire.js"))) throw new Error(`${PKG}/hubwire.js is missing: run \`wasm-pack build --target web --release\``);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubwire-reliability-"));
  const emu = new EmulatorProcess({ bin: EMULATOR_BIN, dir, args: ["--static", path.join(ROOT, "scripts", "soak", "web"), "--pkg", PKG, ...extraArgs] });
  await emu.start();
  const svc = new ServiceClient(emu.info.serviceConnectionString, emu.info.httpUrl);
  return {
    emu,
    svc,
    info: emu.info,
    async device(id) {
      const d = await svc.ensureDevice(id);
      return { id, key: d.authentication.symmetricKey.primaryKey, cs: `HostName=${emu.info.hostName};DeviceId=${id};SharedAccessKey=${d.authentication.symmetricKey.primaryKey}` };
    },
    async stop() {
      await emu.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The hubwire module (pkg/) initialised in this process, and its wasm memory. */
export async function nodeHubwire() {
  const hubwire = await import(pathToFileURL(path.join(PKG, "hubwire.js")).href);
  const wasm = hubwire.initSync({ module: fs.readFileSync(path.join(PKG, "hubwire_bg.wasm")) });
  return { hubwire, memory: () => wasm.memory.buffer.byteLength };
}

/** A headless Chromium page on the emulator's soak page (window.soak ready). */
export async function chromiumPage(info) {
  const { launchChromium } = await import("../support/chromium.mjs");
  const browser = await launchChromium();
  const page = await browser.newPage();
  const console = [];
  page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  await page.goto(`${info.httpUrl}/index.html`);
  await page.waitForFunction(() => window.soak && window.soak.ready, null, { timeout: 30000 });
  return { browser, page, console, close: () => browser.close() };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
