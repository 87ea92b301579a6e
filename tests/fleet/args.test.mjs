// `hubwire fleet` options: parsing, defaults, typed errors.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fleetHelp, parseDuration, parseFleetArgs, parseMergeArgs, parseRate } from "../../packaging/fleet/args.js";

const CS = "HostName=h.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAA==";
const usage = (argv, re, env = {}) =>
  assert.throws(() => parseFleetArgs(argv, env), (e) => e.code === "USAGE" && re.test(e.message), `${argv.join(" ")} → ${re}`);

test("args_defaults_succeeds", () => {
  const o = parseFleetArgs(["--service-connection-string", CS], {});
  assert.equal(o.prefix, "sim");
  assert.equal(o.count, 1);
  assert.equal(o.index, 1);
  assert.equal(o.pad, 6);
  assert.equal(o.rampPerSec, 100);
  assert.equal(o.maxErrorRate, 0.01);
  assert.deepEqual(o.shard, { index: 0, count: 1 });
  assert.equal(o.websocket, "node");
  assert.equal(o.twin, true);
  assert.ok(o.workers >= 1);
  assert.deepEqual(o.clientOptions, {});
});

test("args_all_flags_succeeds", () => {
  const o = parseFleetArgs([
    "--service-connection-string", CS, "--prefix", "dev-", "--count=10000", "--index", "0", "--pad", "5", "--existing", "update",
    "--url", "ws://127.0.0.1:8080/$iothub/websocket", "--keep-alive", "60", "--retry-min-ms", "200", "--retry-max-ms", "5000",
    "--template", "t.json", "--interval", "0.5", "--payload-size", "1024", "--messages", "10", "--seed", "x", "--methods", "m.mjs",
    "--no-twin", "--duration", "15m", "--ramp-per-sec", "0", "--workers", "3", "--shard", "2/4", "--max-error-rate", "0.5%",
    "--report", "r.json", "--csv", "r.csv", "--progress", "line", "--stop-timeout", "3s", "--websocket", "global",
  ], {});
  assert.equal(o.prefix, "dev-");
  assert.equal(o.count, 10000);
  assert.equal(o.index, 0);
  assert.equal(o.existing, "update");
  assert.equal(o.serviceUrl, "http://127.0.0.1:8080", "the emulator serves devices and the service API on one port");
  assert.deepEqual(o.clientOptions, { keepAliveSeconds: 60, retry: { minDelayMs: 200, maxDelayMs: 5000 } });
  assert.equal(o.interval, 0.5);
  assert.equal(o.duration, 900);
  assert.equal(o.rampPerSec, 0);
  assert.deepEqual(o.shard, { index: 2, count: 4 });
  assert.equal(o.maxErrorRate, 0.005);
  assert.equal(o.twin, false);
  assert.equal(o.stopTimeoutMs, 3000);
  assert.equal(o.websocket, "global");
});

test("args_connection_string_from_environment_succeeds", () => {
  assert.equal(parseFleetArgs([], { IOTHUB_CONNECTION_STRING: CS }).serviceConnectionString, CS);
  assert.equal(parseFleetArgs(["--connection-strings", "f.txt"], { IOTHUB_CONNECTION_STRING: CS }).serviceConnectionString, undefined, "an explicit source wins");
  assert.equal(parseFleetArgs(["--url", "wss://gw.example:8443/$iothub/websocket"], {}).serviceUrl, "https://gw.example:8443");
});

test("args_bad_values_fail", () => {
  usage(["--nope"], /unknown option --nope/);
  usage(["--coun", "3"], /did you mean --count/);
  usage(["--count"], /needs a value/);
  usage(["--count", "--prefix"], /needs a value/);
  usage(["--count", "-1"], /whole number/);
  usage(["--count", "1.5"], /whole number/);
  usage(["--interval", "0"], /number from 0.001/);
  usage(["--duration", "soon"], /duration/);
  usage(["--shard", "4/4"], /below n/);
  usage(["--max-error-rate", "2"], /from 0 to 1/);
  usage(["--existing", "clobber"], /one of reuse, update, fetch/);
  usage(["--progress", "loud"], /one of auto, line, off/);
  usage(["--no-twin=1"], /takes no value/);
  usage(["--count", "1", "--count", "2"], /given twice/);
  usage(["--retry-min-ms", "500", "--retry-max-ms", "100"], /above/);
  usage(["--connection-strings", "f", "--prefix", "x"], /with --connection-strings the file names them/);
});

test("args_helpers_succeeds", () => {
  assert.equal(parseDuration("90", "--d"), 90);
  assert.equal(parseDuration("500ms", "--d"), 0.5);
  assert.equal(parseDuration("2h", "--d"), 7200);
  assert.equal(parseRate("1%", "--r"), 0.01);
  assert.equal(parseRate("0", "--r"), 0);
  assert.deepEqual(parseMergeArgs(["a.json", "b.json", "--report", "m.json", "--max-error-rate", "5%"]), { files: ["a.json", "b.json"], report: "m.json", csv: undefined, maxErrorRate: 0.05 });
  assert.throws(() => parseMergeArgs([]), (e) => e.code === "USAGE");
  assert.throws(() => parseMergeArgs(["a", "--x"]), (e) => e.code === "USAGE");
  const help = fleetHelp();
  for (const flag of ["--service-connection-string", "--shard", "--ramp-per-sec", "--max-error-rate", "--template", "--methods", "Exit status"]) assert.ok(help.includes(flag), flag);
});
