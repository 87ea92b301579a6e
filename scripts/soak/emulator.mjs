// The emulator as a child process the soak can kill -9 and start again on the
// same port with the same --state-file (scripts/soak.mjs, tests/reliability).

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class EmulatorProcess {
  /**
   * @param bin   the hubwire-emulator binary
   * @param dir   a scratch directory (state file, ready file, log)
   * @param args  extra arguments (e.g. --static, --pkg, --max-telemetry)
   */
  constructor({ bin, dir, args = [] }) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p hubwire-emulator\` first`);
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
    fs.rmSync(this.readyFile, { force: true });
    const log = fs.openSync(this.logFile, "a");
    const args = ["--port", String(this.port), "--state-file", this.stateFile, "--ready-file", this.readyFile, "--no-demo-device", ...this.args];
    const child = spawn(this.bin, args, { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    this.child = child;
    let exited = null;
    child.on("exit", (code, signal) => (exited = { code, signal }));
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`emulator exited ${JSON.stringify(exited)} before it was ready; see ${this.logFile}`);
      try {
        const info = JSON.parse(fs.readFileSync(this.readyFile, "utf8"));
        if (info.httpUrl) {
          this.info = info;
          this.port = Number(new URL(info.httpUrl).port);
          this.starts++;
          return info;
        }
      } catch {
        // not written yet
      }
      await sleep(25);
    }
    child.kill("SIGKILL");
    throw new Error(`emulator not ready after 60 s; see ${this.logFile}`);
  }

  /** `kill -9`: no chance to write anything more. */
  async kill9() {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await gone;
  }

  async stop() {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  }

  /** The emulator's own log lines (stdout and stderr of every start). */
  logText() {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
}
