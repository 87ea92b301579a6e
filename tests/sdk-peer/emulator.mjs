// Shared by the sdk-peer tests: start hubwire-emulator (TLS on), mint service
// tokens, call the service API, and an https.Agent that sends the official
// SDKs' hard-coded wss://{host}:443 to the emulator's TLS port.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { launchEmulator } from '../support/emulator.mjs';

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

/**
 * A running emulator with TLS on (tests/support/emulator.mjs): `ready` is its READY JSON;
 * `stop()` ends it; `bin` is its binary, `dir` its run directory. `extraArgs` go to the emulator (e.g. `--client-certs`).
 */
export async function startEmulator(extraArgs = []) {
  const emu = await launchEmulator({ tls: true, args: extraArgs });
  if (!(emu.info.tlsPort > 0 && emu.info.certPath)) {
    await emu.stop();
    throw new Error('TLS listener expected');
  }
  return { ready: emu.info, log: emu.log, stop: emu.stop, bin: emu.bin, dir: emu.dir };
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

/**
 * An agent that dials the emulator's TLS port whatever host:port the SDK asks for, trusting
 * its certificate (and presenting the client certificate an X.509 client passes down).
 */
export function emulatorAgent(ready) {
  const ca = readFileSync(ready.certPath);
  const agent = new https.Agent({ ca });
  agent.createConnection = (options, cb) => {
    const { cert, key } = options;
    const socket = tls.connect({ host: '127.0.0.1', port: ready.tlsPort, servername: 'localhost', ca, cert, key });
    if (cb) socket.once('secureConnect', () => cb(null, socket));
    return socket;
  };
  return agent;
}
