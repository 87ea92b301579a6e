// Command-line options of `hubwire fleet` (docs/fleet.md has the long form).
// One table drives parsing, defaults, checks and --help.

import { availableParallelism } from "node:os";
import { FleetError } from "./errors.js";
import { parseShard } from "./shard.js";

/** Parses a duration: "90", "90s", "15m", "2h", "500ms" → seconds. */
export function parseDuration(text, flag) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(String(text));
  if (!m) throw new FleetError("USAGE", `${flag} ${JSON.stringify(text)}: expected a duration such as 30, 30s, 10m or 1h`);
  const n = Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] || "s"];
  if (!(n > 0)) throw new FleetError("USAGE", `${flag}: must be more than 0`);
  return n;
}

/** Parses a rate: "0.01", "1%" → fraction. */
export function parseRate(text, flag) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(String(text));
  if (!m) throw new FleetError("USAGE", `${flag} ${JSON.stringify(text)}: expected a fraction (0.01) or a percentage (1%)`);
  const r = Number(m[1]) / (m[2] ? 100 : 1);
  if (!(r >= 0 && r <= 1)) throw new FleetError("USAGE", `${flag}: must be from 0 to 1 (0 % to 100 %)`);
  return r;
}

const int = (min, max) => (v, flag) => {
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= min && n <= max)) throw new FleetError("USAGE", `${flag} ${JSON.stringify(v)}: expected a whole number from ${min} to ${max}`);
  return n;
};
const number = (min, max) => (v, flag) => {
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= min && n <= max)) throw new FleetError("USAGE", `${flag} ${JSON.stringify(v)}: expected a number from ${min} to ${max}`);
  return n;
};
const text = (v) => v;
const oneOf = (...choices) => (v, flag) => {
  if (!choices.includes(v)) throw new FleetError("USAGE", `${flag} ${JSON.stringify(v)}: expected one of ${choices.join(", ")}`);
  return v;
};

/** [flag, key, parse (null: a switch), default, help, section] */
export const FLEET_OPTIONS = [
  ["--service-connection-string", "serviceConnectionString", text, undefined, "CS  create devices through the hub's registry (iothubowner or registryReadWrite); also $IOTHUB_CONNECTION_STRING", "Identities"],
  ["--prefix", "prefix", text, "sim", "TEXT  device id prefix (default sim)", "Identities"],
  ["--count", "count", int(0, 10_000_000), 1, "N  devices in the whole fleet, over all shards (default 1)", "Identities"],
  ["--index", "index", int(0, 1_000_000_000), 1, "N  number of the first device (default 1): ids sim000001…", "Identities"],
  ["--pad", "pad", int(0, 12), 6, "N  digits of the device number, zero-padded (default 6)", "Identities"],
  ["--existing", "existing", oneOf("reuse", "update", "fetch"), "reuse", "MODE  devices that already exist: reuse (their key is the derived one; default), update (set the derived key), fetch (read each one's key)", "Identities"],
  ["--key-seed", "keySeed", text, undefined, "TEXT  derive device keys from this instead of the service key", "Identities"],
  ["--registry-concurrency", "registryConcurrency", int(1, 64), 4, "N  bulk registry calls in flight (default 4)", "Identities"],
  ["--service-url", "serviceUrl", text, undefined, "URL  registry endpoint (default https://{HostName}; the emulator's httpUrl)", "Identities"],
  ["--connection-strings", "connectionStrings", text, undefined, "FILE  existing devices, one connection string a line (--count caps how many)", "Identities"],
  ["--id-scope", "idScope", text, undefined, "SCOPE  provision through DPS: the ID scope (with --group-key); device ids are --prefix + number", "Identities"],
  ["--group-key", "groupKey", text, undefined, "KEY  the DPS enrollment group's key; each device's key is derived from it", "Identities"],
  ["--provisioning-host", "provisioningHost", text, undefined, "HOST  DPS endpoint (default global.azure-devices-provisioning.net; with --url, --url serves DPS too)", "Identities"],
  ["--dps-concurrency", "dpsConcurrency", int(1, 1024), 32, "N  DPS registrations in flight (default 32)", "Identities"],
  ["--url", "url", text, undefined, "URL  device endpoint, e.g. the emulator's ws://127.0.0.1:8080/$iothub/websocket (default wss://{HostName}:443/…)", "Connection"],
  ["--allow-insecure", "allowInsecure", null, false, "  allow ws:// to a host other than loopback", "Connection"],
  ["--keep-alive", "keepAlive", int(5, 1740), undefined, "SECONDS  MQTT keep-alive (library default 180)", "Connection"],
  ["--retry-min-ms", "retryMinMs", int(1, 3_600_000), undefined, "MS  reconnect backoff base (library default 1000)", "Connection"],
  ["--retry-max-ms", "retryMaxMs", int(1, 3_600_000), undefined, "MS  reconnect backoff cap (library default 60000)", "Connection"],
  ["--websocket", "websocket", oneOf("node", "global"), "node", "IMPL  node (hubwire's small node:net client, ~1/3 the memory; default) or global (the runtime's WebSocket)", "Connection"],
  ["--client", "client", text, undefined, "PATH  hubwire build to use (a node.js entry or a wasm-pack --target web dir)", "Connection"],
  ["--template", "template", text, undefined, "FILE  telemetry template: .json or .js/.mjs (default: temperature, humidity, counter, time, engine)", "Telemetry"],
  ["--interval", "interval", number(0.001, 86400), undefined, "SECONDS  between messages of one device (overrides the template's; default 1)", "Telemetry"],
  ["--interval-spread", "intervalSpread", (v, f) => {
    const r = parseRate(v, f);
    if (r > 0.9) throw new FleetError("USAGE", `${f}: at most 90%`);
    return r;
  }, undefined, "R  give each device its own interval within ±R (0.2 or 20%)", "Telemetry"],
  ["--payload-size", "payloadSize", int(1, 262144), undefined, "BYTES  pad every body to this size", "Telemetry"],
  ["--messages", "messages", int(0, 1_000_000_000), 0, "N  messages per device, then stop (0: no limit; default)", "Telemetry"],
  ["--seed", "seed", text, undefined, "TEXT  make template values reproducible", "Telemetry"],
  ["--methods", "methods", text, undefined, "FILE  ES module of direct-method handlers: export function name(req, device)", "Telemetry"],
  ["--no-twin", "noTwin", null, false, "  do not report twin properties (desired interval patches still apply)", "Telemetry"],
  ["--duration", "duration", parseDuration, undefined, "TIME  run for this long: 90, 90s, 15m, 2h (default: until --messages or Ctrl-C)", "Run"],
  ["--ramp-per-sec", "rampPerSec", number(0, 1_000_000), 100, "N  connects started per second over all workers (default 100, IoT Hub S1's connect throttle; 0: no ramp)", "Run"],
  ["--workers", "workers", int(1, 256), undefined, "N  worker threads (default: one per core)", "Run"],
  ["--shard", "shard", parseShard, { index: 0, count: 1 }, "i/n  simulate slice i (0…n-1) of n of the device range", "Run"],
  ["--max-error-rate", "maxErrorRate", parseRate, 0.01, "R  exit 1 when failed operations exceed this fraction (default 0.01 = 1%)", "Run"],
  ["--report", "report", text, undefined, "FILE  write the JSON report here", "Run"],
  ["--csv", "csv", text, undefined, "FILE  write the per-second timeline as CSV here", "Run"],
  ["--progress", "progress", oneOf("auto", "line", "off"), "auto", "MODE  auto (one live line on a terminal, a line every 10 s otherwise), line (a line a second), off", "Run"],
  ["--tick-ms", "tickMs", int(100, 60000), 1000, "MS  progress and timeline resolution (default 1000)", "Run"],
  ["--stop-timeout", "stopTimeoutMs", (v, f) => Math.round(parseDuration(v, f) * 1000), 10000, "TIME  how long each device may take to disconnect at the end (default 10s)", "Run"],
  ["--max-pending-connects", "maxPendingConnects", int(1, 100000), 512, "N  first connects in flight per worker (default 512)", "Run"],
];

/** Parses `hubwire fleet` arguments. `env` supplies IOTHUB_CONNECTION_STRING. */
export function parseFleetArgs(argv, env = process.env) {
  const o = {};
  const given = new Set();
  for (const [, key, , dflt] of FLEET_OPTIONS) o[key] = dflt;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const spec = FLEET_OPTIONS.find(([flag]) => flag === a);
    if (!spec) {
      const near = FLEET_OPTIONS.map(([f]) => f).find((f) => a.startsWith("--") && (f.startsWith(a) || a.startsWith(f)));
      throw new FleetError("USAGE", `unknown option ${a}${near ? ` (did you mean ${near}?)` : ""}; see hubwire fleet --help`);
    }
    const [flag, key, parse] = spec;
    if (given.has(key)) throw new FleetError("USAGE", `${flag} given twice`);
    given.add(key);
    if (parse === null) {
      if (inline !== undefined) throw new FleetError("USAGE", `${flag} takes no value`);
      o[key] = true;
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined || (inline === undefined && v.startsWith("--") && v.length > 2)) throw new FleetError("USAGE", `${flag} needs a value`);
    o[key] = parse(v, flag);
  }
  if (o.serviceConnectionString === undefined && o.connectionStrings === undefined && o.idScope === undefined && o.groupKey === undefined) {
    o.serviceConnectionString = env.IOTHUB_CONNECTION_STRING || undefined;
  }
  o.countGiven = given.has("count");
  o.twin = !o.noTwin;
  if (o.workers === undefined) o.workers = availableParallelism();
  if (o.retryMinMs !== undefined && o.retryMaxMs !== undefined && o.retryMinMs > o.retryMaxMs) {
    throw new FleetError("USAGE", "--retry-min-ms is above --retry-max-ms");
  }
  if (o.connectionStrings !== undefined) {
    for (const k of ["prefix", "index", "pad", "existing", "keySeed"]) {
      if (given.has(k)) throw new FleetError("USAGE", `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} names devices to create; with --connection-strings the file names them`);
    }
  }
  if (o.serviceUrl === undefined && o.url !== undefined) {
    // The emulator serves devices and the service API on one port: ws://h:p/… → http://h:p.
    const u = new URL(o.url);
    if (u.protocol === "ws:" || u.protocol === "wss:") o.serviceUrl = `${u.protocol === "ws:" ? "http" : "https"}://${u.host}`;
  }
  o.clientOptions = {};
  if (o.keepAlive !== undefined) o.clientOptions.keepAliveSeconds = o.keepAlive;
  if (o.retryMinMs !== undefined || o.retryMaxMs !== undefined) {
    o.clientOptions.retry = { ...(o.retryMinMs !== undefined ? { minDelayMs: o.retryMinMs } : {}), ...(o.retryMaxMs !== undefined ? { maxDelayMs: o.retryMaxMs } : {}) };
  }
  return o;
}

/** Parses `hubwire fleet merge` arguments: report files plus --report/--csv/--max-error-rate. */
export function parseMergeArgs(argv) {
  const o = { files: [], report: undefined, csv: undefined, maxErrorRate: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new FleetError("USAGE", `${a} needs a value`);
      return v;
    };
    if (a === "--report") o.report = val();
    else if (a === "--csv") o.csv = val();
    else if (a === "--max-error-rate") o.maxErrorRate = parseRate(val(), a);
    else if (a.startsWith("--")) throw new FleetError("USAGE", `unknown option ${a} for hubwire fleet merge`);
    else o.files.push(a);
  }
  if (!o.files.length) throw new FleetError("USAGE", "hubwire fleet merge: give the report files, e.g. reports/*.json");
  return o;
}

export function fleetHelp() {
  const lines = [
    "usage: hubwire fleet [options]                 simulate a fleet of IoT Hub devices",
    "       hubwire fleet merge REPORT.json... [--report out.json] [--csv out.csv] [--max-error-rate R]",
    "       hubwire fleet template [FILE] [--devices N] [--messages N] [--seed S]   print sample messages",
    "",
    "Each device is a hubwire DeviceClient with its own MQTT-over-WebSocket connection.",
    "Ctrl-C stops cleanly: every device disconnects and the report is still written.",
  ];
  let section = "";
  for (const [flag, , , , help, sec] of FLEET_OPTIONS) {
    if (sec !== section) {
      section = sec;
      lines.push("", `${sec}:`);
    }
    const sp = help.indexOf("  ");
    const arg = help.slice(0, sp);
    lines.push(`  ${`${flag}${arg ? ` ${arg}` : ""}`.padEnd(36)} ${help.slice(sp + 2)}`);
  }
  lines.push(
    "",
    "Exit status: 0 ok; 1 failed operations above --max-error-rate; 2 bad options, template or identities;",
    "3 a worker failed; 130/143 stopped by SIGINT/SIGTERM (report written). Docs: docs/fleet.md.",
  );
  return lines.join("\n");
}
