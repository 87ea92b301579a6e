// Shared plumbing for the runtime tests: the packed `hubwire` tarball, a
// scratch install of it, the emulator on loopback, free ports, child processes.
//
// Environment:
//   HUBWIRE_NPM_TARBALL     use this tarball instead of building one
//   HUBWIRE_EMULATOR_BIN, HUBWIRE_EMULATOR_READY_FILE, HUBWIRE_EMULATOR_URL/_HTTP:
//                           which emulator (tests/support/emulator.mjs)

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { launchEmulator, sharedEmulator } from "../support/emulator.mjs";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const npmOut = join(repo, "pkg-npm");
const scratch = join(npmOut, "work");

/** A binary from the root package.json's devDependencies (node@22, deno, bun, workerd, vite, tsc). */
export function bin(name) {
  const p = join(repo, "node_modules", ".bin", name);
  if (!existsSync(p)) throw new Error(`${p} is missing: run \`npm ci\` at the repository root`);
  return p;
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The packed tarball, built by packaging/build.mjs when missing or older than
 * src/, Cargo.toml or packaging/. Test files run in parallel processes, so the
 * build is guarded by a lock directory.
 */
export function ensurePackage() {
  if (process.env.HUBWIRE_NPM_TARBALL) return resolve(process.env.HUBWIRE_NPM_TARBALL);
  mkdirSync(npmOut, { recursive: true });
  const lock = join(npmOut, ".build-lock");
  const deadline = Date.now() + 20 * 60 * 1000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      // A lock left by a process that died (killed by a timeout) is taken over.
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        // being created right now
      }
      if (holder && !alive(holder)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} held for 20 minutes by pid ${holder}`);
      else sleepSync(500);
    }
  }
  try {
    const sizesPath = join(npmOut, "sizes.json");
    const inputs = Math.max(newestMtime(join(repo, "src")), newestMtime(join(repo, "packaging")), statSync(join(repo, "Cargo.toml")).mtimeMs);
    if (existsSync(sizesPath)) {
      const sizes = JSON.parse(readFileSync(sizesPath, "utf8"));
      if (sizes.tarball && existsSync(sizes.tarball) && statSync(sizes.tarball).mtimeMs > inputs) return sizes.tarball;
    }
    const r = spawnSync(process.execPath, [join(repo, "packaging", "build.mjs")], { cwd: repo, stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) throw new Error(`packaging/build.mjs failed (exit ${r.status})`);
    return JSON.parse(readFileSync(sizesPath, "utf8")).tarball;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/**
 * A scratch project under pkg-npm/work/<name> with the tarball installed (no
 * registry access: the tarball has no dependencies). It lives inside the
 * repository so that tools (vite, typescript, ws) resolve from the root
 * node_modules while `hubwire` resolves from the scratch one.
 * @param {string} name
 * @param {{ from?: string, packageJson?: object }} [opts]  from: a directory to copy first (an example app)
 */
export function installPackage(name, opts = {}) {
  const tarball = ensurePackage();
  const dir = join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (opts.from) cpSync(opts.from, dir, { recursive: true, filter: (src) => !/node_modules|[/\\]dist$/.test(src) });
  const pkgPath = join(dir, "package.json");
  const pkg = existsSync(pkgPath) ? JSON.parse(readFileSync(pkgPath, "utf8")) : { name: `hubwire-test-${name}`, private: true, type: "module" };
  // Tools come from the repository root; only hubwire is installed here.
  delete pkg.devDependencies;
  delete pkg.dependencies;
  Object.assign(pkg, opts.packageJson || {});
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--offline", "--no-package-lock", tarball], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm install ${tarball} failed in ${dir}:\n${r.stdout}\n${r.stderr}`);
  return { dir, tarball };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

/** Spawns a child whose output is kept for failure messages; `stop()` ends it by its pid. */
export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  return {
    child,
    out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Runs a command to completion with a time limit; resolves `{ code, stdout, stderr }`. */
export async function runProcess(cmd, args, opts = {}) {
  const { timeoutMs = 120000, ...spawnOpts } = opts;
  const p = startProcess(cmd, args, spawnOpts);
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    p.stop();
  }, timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(t);
  return { code, signal, timedOut, stdout: p.out.stdout, stderr: p.out.stderr };
}

/**
 * The emulator on loopback: its ready JSON (`httpUrl`, `wsUrl`, `hostName`,
 * `serviceConnectionString`, …) plus `stop()`. With `tls`, one that also
 * serves `wss://` (`wssUrl`, `certPath`): the shared one if it does, else our own
 * (tests/support/emulator.mjs, the debug emulator built if HUBWIRE_EMULATOR_BIN is unset).
 * With `args` (flags of its own, e.g. `--client-certs`), always our own.
 */
export async function startEmulator({ tls = false, args = [] } = {}) {
  const shared = args.length ? null : await sharedEmulator({ tls });
  if (shared) return { ...shared, stop: async () => {} };
  const emu = await launchEmulator({ tls, build: true, args });
  return { ...emu.info, stop: emu.stop };
}

/**
 * The emulator's ready JSON without `stop`, as the examples take it (env
 * HUBWIRE_EMULATOR); with `wss`, devices are pointed at its `wss://` URL.
 */
export function emulatorJson(emu, { wss = false } = {}) {
  const { stop, ...info } = emu;
  if (wss) {
    if (!info.wssUrl) throw new Error("this emulator serves no wss://");
    info.wsUrl = info.wssUrl;
  }
  return JSON.stringify(info);
}

/** The last line of `stdout` that parses as JSON. */
export function lastJson(stdout) {
  const lines = stdout.trim().split("\n").reverse();
  for (const l of lines) {
    try {
      return JSON.parse(l);
    } catch {
      // keep looking
    }
  }
  return null;
}

/**
 * Checks what examples/shared/roundtrip.mjs reports after a successful run, the
 * same wherever it ran: 100 messages each way, the direct method answered (and
 * an unknown one 501), the C2D message's properties, one drop and one reconnect.
 */
export function assertRoundtripResult(result) {
  assert.equal(result.sent, 100);
  assert.equal(result.received, 100);
  assert.equal(result.method.status, 200);
  assert.equal(result.unknownMethodStatus, 501);
  assert.equal(result.connectedAfterDisconnect, false);
  assert.deepEqual(result.c2dProperties, { priority: "high" });
  assert.equal(result.reconnects, 1, "one drop, one reconnect");
}
