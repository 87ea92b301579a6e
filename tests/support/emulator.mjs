// The one emulator launcher of every JS harness (tests/e2e, tests/runtimes,
// tests/sdk-peer, bench/): starts hubwire-emulator on a free loopback port,
// waits for its --ready-file, and stops it by its pid; or reuses the emulator
// scripts/test.sh started (HUBWIRE_EMULATOR_READY_FILE / HUBWIRE_EMULATOR_URL /
// HUBWIRE_EMULATOR_HTTP). Node builtins only: tests/sdk-peer imports it from its
// own npm directory.
//
//   const emu = await launchEmulator({ tls: true });   // { info, httpUrl, log(), stop() }
//   const info = await sharedEmulator({ tls: true });  // the running one's ready JSON, or null
//   const p = new EmulatorProcess({ bin, dir });       // restartable on the same port and
//   await p.start(); await p.kill9(); await p.start(); //   --state-file (scripts/soak.mjs, tests/reliability)

import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { endProcess } from "./process.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * The emulator binary: HUBWIRE_EMULATOR_BIN, else <target>/debug/hubwire-emulator.
 * With `build`, `cargo build -p hubwire-emulator` runs first when HUBWIRE_EMULATOR_BIN is unset.
 */
export function emulatorBin({ build = false } = {}) {
  if (process.env.HUBWIRE_EMULATOR_BIN) return path.resolve(process.env.HUBWIRE_EMULATOR_BIN);
  const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "debug", "hubwire-emulator");
  if (build) {
    const r = spawnSync("cargo", ["build", "-q", "-p", "hubwire-emulator"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) throw new Error("cargo build -p hubwire-emulator failed");
  }
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p hubwire-emulator\` first`);
  return bin;
}

/**
 * The ready JSON of the emulator scripts/test.sh runs (its ready file, else the /emulator/info
 * of HUBWIRE_EMULATOR_URL or HUBWIRE_EMULATOR_HTTP), or null when there is none or it lacks
 * what is asked: `tls` (a wss:// listener), `serves` (paths it must answer 200 for, e.g. the
 * dashboard and pkg/).
 */
export async function sharedEmulator({ tls = false, serves = [] } = {}) {
  let info = null;
  const file = process.env.HUBWIRE_EMULATOR_READY_FILE;
  const http = (process.env.HUBWIRE_EMULATOR_URL || process.env.HUBWIRE_EMULATOR_HTTP || "").replace(/\/$/, "");
  try {
    if (file && existsSync(file)) info = JSON.parse(readFileSync(file, "utf8"));
    else if (http) info = await (await fetch(`${http}/emulator/info`)).json();
  } catch {
    return null;
  }
  if (!info || !info.httpUrl || !info.serviceConnectionString) return null;
  if (tls && !info.wssUrl) return null;
  for (const p of serves) {
    try {
      const r = await fetch(`${info.httpUrl}${p}`);
      await r.arrayBuffer();
      if (!r.ok) return null;
    } catch {
      return null;
    }
  }
  return info;
}

/**
 * Starts the emulator and resolves once its ready file is complete.
 * @param {object} [o]
 * @param {string} [o.bin]         binary (default emulatorBin({ build: o.build }))
 * @param {boolean} [o.build]      cargo build the debug emulator first (when o.bin and HUBWIRE_EMULATOR_BIN are unset)
 * @param {boolean} [o.tls]        also serve wss:// (--tls-port 0) with a certificate in the run directory
 * @param {string} [o.staticDir]   --static (the dashboard)
 * @param {string} [o.pkgDir]      --pkg (served at /pkg/)
 * @param {boolean} [o.stateFile]  --state-file in the run directory
 * @param {string[]} [o.args]      further arguments
 * @param {string} [o.logFile]     where its output goes (default: kept in memory for `log()`)
 * @param {number} [o.timeoutMs]   how long it may take to be ready (default 30 s)
 * @returns {Promise<{ info: object, httpUrl: string, dir: string, pid: number, bin: string, log(): string, stop(): Promise<void> }>}
 */
export async function launchEmulator(o = {}) {
  const bin = o.bin || emulatorBin({ build: o.build });
  const dir = mkdtempSync(path.join(os.tmpdir(), "hubwire-emulator-"));
  const readyFile = path.join(dir, "ready.json");
  const args = ["--port", "0", "--bind", "127.0.0.1", "--ready-file", readyFile, "--cert-dir", dir];
  if (o.tls) args.push("--tls-port", "0");
  if (o.staticDir) args.push("--static", o.staticDir);
  if (o.pkgDir) args.push("--pkg", o.pkgDir);
  if (o.stateFile) args.push("--state-file", path.join(dir, "state.json"));
  args.push(...(o.args || []));
  let out = "";
  let fd = null;
  if (o.logFile) {
    mkdirSync(path.dirname(o.logFile), { recursive: true });
    fd = openSync(o.logFile, "w");
  }
  const child = spawn(bin, args, { cwd: ROOT, stdio: ["ignore", fd ?? "pipe", fd ?? "pipe"] });
  if (fd !== null) closeSync(fd);
  else for (const s of [child.stdout, child.stderr]) s.on("data", (d) => (out = (out + d).slice(-64 * 1024)));
  const log = () => (o.logFile ? readFileSync(o.logFile, "utf8").slice(-64 * 1024) : out);
  const stop = async () => {
    await endProcess(child);
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    const info = await waitReady(child, readyFile, o.timeoutMs ?? 30000, bin, log);
    return { info, httpUrl: info.httpUrl, dir, pid: child.pid, bin, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The ready JSON once the emulator `child` has written `readyFile` completely; rejects when
 * the child exits first or after `timeoutMs`, with its log.
 */
async function waitReady(child, readyFile, timeoutMs, bin, log) {
  let exited = child.exitCode !== null || child.signalCode !== null ? { code: child.exitCode, signal: child.signalCode } : null;
  const onExit = (code, signal) => (exited = { code, signal });
  child.once("exit", onExit);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited) throw new Error(`the emulator (${bin}) exited (${JSON.stringify(exited)}) before it was ready:\n${log()}`);
      try {
        const info = JSON.parse(readFileSync(readyFile, "utf8"));
        if (info.httpUrl) return info;
      } catch {
        // not written (completely) yet
      }
      if (Date.now() > deadline) throw new Error(`the emulator (${bin}) wrote no ready file in ${timeoutMs / 1000} s:\n${log()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    child.off("exit", onExit);
  }
}

/**
 * An emulator the caller can `kill -9` and start again on the same port with the same
 * --state-file (the soak, tests/reliability). Its output goes to `<dir>/emulator.log`.
 */
export class EmulatorProcess {
  /**
   * @param bin   the hubwire-emulator binary
   * @param dir   a scratch directory (state file, ready file, log)
   * @param args  extra arguments (e.g. --static, --pkg, --max-telemetry)
   */
  constructor({ bin, dir, args = [] }) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p hubwire-emulator\` first`);
    this.bin = bin;
    this.dir = dir;
    this.args = args;
    this.stateFile = path.join(dir, "state.json");
    this.readyFile = path.join(dir, "ready.json");
    this.logFile = path.join(dir, "emulator.log");
    this.port = 0;
    this.child = null;
    this.starts = 0;
    this.info = null;
  }

  /** Starts it (port 0 the first time, then the same port) and waits for its ready file. */
  async start() {
    rmSync(this.readyFile, { force: true });
    const log = openSync(this.logFile, "a");
    const args = ["--port", String(this.port), "--state-file", this.stateFile, "--ready-file", this.readyFile, "--no-demo-device", ...this.args];
    this.child = spawn(this.bin, args, { stdio: ["ignore", log, log] });
    closeSync(log);
    try {
      this.info = await waitReady(this.child, this.readyFile, 60000, this.bin, () => this.logText().slice(-64 * 1024));
    } catch (e) {
      this.child.kill("SIGKILL");
      throw e;
    }
    this.port = Number(new URL(this.info.httpUrl).port);
    this.starts++;
    return this.info;
  }

  /** `kill -9`: no chance to write anything more. */
  async kill9() {
    await endProcess(this.child, "SIGKILL");
  }

  async stop() {
    await endProcess(this.child, "SIGTERM", 5000);
  }

  /** The emulator's own log lines (stdout and stderr of every start). */
  logText() {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
}
