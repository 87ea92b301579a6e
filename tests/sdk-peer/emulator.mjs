// Shared by the sdk-peer tests: start hubwire-emulator (TLS on), mint service
// tokens, call the service API, and an https.Agent that sends the official
// SDKs' hard-coded wss://{host}:443 to the emulator's TLS port.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.HUBWIRE_EMULATOR_BIN || path.resolve(here, '../../target/debug/hubwire-emulator');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function parseCs(cs) {
  return Object.fromEntries(cs.split(';').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/** A running emulator: `ready` is its READY JSON; `stop()` ends it. */
export async function startEmulator(extraArgs = []) {
  if (!existsSync(bin)) throw new Error(`emulator binary not found at ${bin}; run cargo build -p hubwire-emulator`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hubwire-sdk-peer-'));
  const readyFile = path.join(tmp, 'ready.json');
  const child = spawn(bin, ['--port', '0', '--tls-port', '0', '--ready-file', readyFile, '--cert-dir', tmp, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  const ready = await Promise.race([
    waitFor('the READY file', () => existsSync(readyFile) && JSON.parse(readFileSync(readyFile, 'utf8')), 30000),
    exited.then((code) => {
      throw new Error(`emulator exited (${code}) before READY:\n${log}`);
    }),
  ]);
  if (!(ready.tlsPort > 0 && ready.certPath)) throw new Error('TLS listener expected');
  return {
    ready,
    log: () => log,
    stop() {
      child.kill('SIGTERM');
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Service SAS, as the service SDKs mint it: sr = host, skn = iothubowner. */
export function serviceToken(ready) {
  const cs = parseCs(ready.serviceConnectionString);
  const sr = encodeURIComponent(cs.HostName);
  const se = Math.floor(Date.now() / 1000) + 3600;
  const sig = createHmac('sha256', Buffer.from(cs.SharedAccessKey, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${cs.SharedAccessKeyName}`;
}

/** A service API call: `{ status, json }`. */
export async function api(ready, method, p, body, headers = {}) {
  const res = await fetch(ready.httpUrl + p, {
    method,
    headers: { authorization: serviceToken(ready), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** An agent that dials the emulator's TLS port whatever host:port the SDK asks for. */
export function emulatorAgent(ready) {
  const ca = readFileSync(ready.certPath);
  const agent = new https.Agent({ ca });
  agent.createConnection = (options, cb) => {
    const socket = tls.connect({ host: '127.0.0.1', port: ready.tlsPort, servername: 'localhost', ca });
    if (cb) socket.once('secureConnect', () => cb(null, socket));
    return socket;
  };
  return agent;
}
