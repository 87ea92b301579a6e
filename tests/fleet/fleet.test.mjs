// `hubwire fleet` end to end against the emulator: real DeviceClients over
// MQTT-WS, the registry's bulk API, cloud operations mid-run, the report,
// reruns, shards and their merge, Ctrl-C, and refusals.
//
// Needs the emulator (scripts/test.sh exports HUBWIRE_EMULATOR_READY_FILE; alone,
// tests/runtimes/helpers.mjs starts a debug one) and a hubwire build in pkg/
// (wasm-pack build --target web --release, the wasm_build suite).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { repo, runProcess, startEmulator, startProcess } from "../runtimes/helpers.mjs";

const CLI = join(repo, "packaging", "fleet", "cli.js");
const dir = mkdtempSync(join(tmpdir(), "hubwire-fleet-test-"));
const tag = `ft${process.pid % 100000}-`;
let emu;
let service;

before(async () => {
  assert.ok(existsSync(join(repo, "pkg", "hubwire_bg.wasm")), "pkg/ is missing: run `wasm-pack build --target web --release` (./scripts/test.sh wasm_build)");
  emu = await startEmulator();
  service = new ServiceClient(emu);
});

after(async () => {
  await emu?.stop();
});

const base = () => ["fleet", "--service-connection-string", emu.serviceConnectionString, "--url", emu.wsUrl, "--progress", "line", "--ramp-per-sec", "0"];
const fleet = (args, opts = {}) => runProcess(process.execPath, [CLI, ...args], { timeoutMs: 90000, cwd: dir, ...opts });
const readJson = (f) => JSON.parse(readFileSync(join(dir, f), "utf8"));

async function waitFor(p, re, what, ms = 60000) {
  const t0 = Date.now();
  while (!re.test(p.out.stderr)) {
    if (p.child.exitCode !== null) throw new Error(`the fleet exited (${p.child.exitCode}) before ${what}:\n${p.out.stderr}\n${p.out.stdout}`);
    if (Date.now() - t0 > ms) throw new Error(`no ${what} in ${ms} ms:\n${p.out.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("fleet_200_devices_twin_patch_methods_c2d_mid_run_report_checked_succeeds", async () => {
  const prefix = `${tag}a`;
  writeFileSync(join(dir, "handlers.mjs"), `export function echo(req, device) {
  return { status: 201, payload: { echo: req.payload, id: device.id, interval: device.interval } };
}
export default { async slowFail() { throw new Error("nope"); } };
`);
  const p = startProcess(process.execPath, [CLI, ...base(), "--prefix", prefix, "--count", "200", "--duration", "7", "--seed", "s",
    "--methods", "handlers.mjs", "--report", "a.json", "--csv", "a.csv", "--max-error-rate", "0"], { cwd: dir });
  try {
    await waitFor(p, /all 200 devices connected/, "all 200 connected");
    const id = (n) => `${prefix}${String(n).padStart(6, "0")}`;
    await service.patchDesired(id(3), { interval: 0.25 });
    assert.deepEqual(await service.invokeMethod(id(4), "setTelemetryInterval", { interval: 0.5 }), { status: 200, payload: { interval: 0.5, previous: 1 } });
    assert.deepEqual(await service.invokeMethod(id(5), "echo", { x: 1 }), { status: 201, payload: { echo: { x: 1 }, id: id(5), interval: 1 } });
    const failed = await service.invokeMethod(id(5), "slowFail", null);
    assert.deepEqual(failed, { status: 500, payload: { message: "nope" } });
    assert.equal((await service.invokeMethod(id(6), "nosuch", {})).status, 501);
    assert.deepEqual(await service.invokeMethod(id(7), "reboot", { delaySeconds: 1 }), { status: 200, payload: { rebooting: true, delaySeconds: 1 } });
    await service.sendC2d(id(8), "hello");
    const bad = await service.invokeMethod(id(9), "setTelemetryInterval", { interval: -1 });
    assert.equal(bad.status, 400);
    const { code } = await p.exited;
    assert.equal(code, 0, `${p.out.stderr}\n${p.out.stdout}`);
    const r = readJson("a.json");
    assert.equal(r.kind, "hubwire-fleet-report");
    assert.equal(r.stoppedBy, "duration");
    assert.equal(r.devices.count, 200);
    assert.equal(r.devices.first, id(1));
    assert.equal(r.devices.last, id(200));
    assert.equal(r.devices.registry.created + r.devices.registry.reused, 200);
    assert.equal(r.connect.connected, 200);
    assert.equal(r.connect.failed, 0);
    assert.ok(r.connect.allConnectedMs > 0);
    const t = r.totals;
    assert.ok(t.sent >= 200 * 4, `sent ${t.sent}`);
    assert.equal(t.acked, t.sent, "every message acknowledged");
    assert.equal(t.errors, 0, JSON.stringify(t.errorsByCode));
    assert.deepEqual(t.methods, { setTelemetryInterval: 2, echo: 1, slowFail: 1, "nosuch (unknown)": 1, reboot: 1 });
    assert.deepEqual(t.methodErrors, { slowFail: 1 });
    assert.equal(t.counters.desiredPatches, 1);
    assert.equal(t.counters.intervalChanges, 2);
    assert.equal(t.counters.c2d, 1);
    assert.equal(t.counters.reboots, 1);
    assert.equal(t.counters.firstConnects, 200);
    assert.equal(t.counters.connects, 201, "the rebooted device connected twice");
    assert.ok(t.counters.reportedAcked >= 202, `reported ${t.counters.reportedAcked}`);
    assert.ok(r.latency.p50 > 0 && r.latency.p99 >= r.latency.p50);
    assert.equal(r.latency.count, t.acked);
    assert.ok(r.rates.ackedPerSec > 100, `acked/s ${r.rates.ackedPerSec}`);
    assert.ok(r.process.rssPerDeviceBytes > 0 && r.process.cpuShare > 0);
    assert.ok(r.timeline.length >= 6, `${r.timeline.length} timeline rows`);
    assert.equal(r.timeline.reduce((s, row) => s + row.acked, 0), t.acked, "the timeline adds up to the totals");
    assert.equal(r.passed, true);
    const csv = readFileSync(join(dir, "a.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, r.timeline.length + 1);
    // The patched device reported its new interval and sent faster than the rest.
    const twin = await service.getTwin(id(3));
    assert.equal(twin.properties.reported.interval, 0.25);
    assert.equal(twin.properties.reported.fleet.simulator, "hubwire fleet");
    assert.ok((await service.getTwin(id(7))).properties.reported.lastReboot, "the rebooted device reported lastReboot");
    const fast = (await service.telemetry(id(3))).length;
    const normal = (await service.telemetry(id(10))).length;
    assert.ok(fast >= normal + 4, `${fast} messages from the 0.25 s device, ${normal} from a 1 s one`);
    const [msg] = await service.telemetry(id(10));
    const body = JSON.parse(msg.body);
    assert.equal(body.deviceId, id(10));
    assert.equal(msg.systemProperties.contentType, "application/json");
    assert.match(p.out.stdout, /result\s+PASSED/);
    assert.match(p.out.stderr, /connected · .* acked \d+\/s · errors 0\/s · ack p50/);
  } finally {
    await p.stop();
  }
});

test("fleet_rerun_reuses_devices_and_messages_bound_the_run_succeeds", async () => {
  const prefix = `${tag}b`;
  const first = await fleet([...base(), "--prefix", prefix, "--count", "120", "--messages", "2", "--interval", "0.2", "--report", "b1.json"]);
  assert.equal(first.code, 0, first.stderr);
  const again = await fleet([...base(), "--prefix", prefix, "--count", "150", "--messages", "2", "--interval", "0.2", "--report", "b2.json"]);
  assert.equal(again.code, 0, again.stderr);
  const r1 = readJson("b1.json");
  const r2 = readJson("b2.json");
  assert.deepEqual([r1.devices.registry.created, r1.devices.registry.reused], [120, 0]);
  assert.deepEqual([r2.devices.registry.created, r2.devices.registry.reused], [30, 120], "a rerun reuses what exists and creates the rest");
  for (const r of [r1, r2]) {
    assert.equal(r.stoppedBy, "messages");
    assert.equal(r.totals.sent, r.devices.count * 2);
    assert.equal(r.totals.acked, r.totals.sent);
  }
  const upd = await fleet([...base(), "--prefix", prefix, "--count", "3", "--messages", "1", "--existing", "update", "--report", "b3.json"]);
  assert.equal(upd.code, 0, upd.stderr);
  assert.equal(readJson("b3.json").devices.registry.updated, 3);
  const fetched = await fleet([...base(), "--prefix", prefix, "--count", "3", "--messages", "1", "--existing", "fetch", "--key-seed", "other", "--report", "b4.json"]);
  assert.equal(fetched.code, 0, `fetch reads each existing device's key, whatever the seed:\n${fetched.stderr}`);
  assert.equal(readJson("b4.json").devices.registry.fetched, 3);
});

test("fleet_shards_are_disjoint_and_merge_complete_succeeds", async () => {
  const prefix = `${tag}c`;
  const shard = (i) => fleet([...base(), "--prefix", prefix, "--count", "31", "--shard", `${i}/3`, "--messages", "2", "--interval", "0.2", "--workers", "1", "--report", `c${i}.json`]);
  const runs = await Promise.all([0, 1, 2].map(shard));
  runs.forEach((r, i) => assert.equal(r.code, 0, `shard ${i}: ${r.stderr}`));
  const rs = [0, 1, 2].map((i) => readJson(`c${i}.json`));
  const ids = rs.flatMap((r) => {
    const out = [];
    for (let k = r.devices.slice.start; k < r.devices.slice.end; k++) out.push(k);
    return out;
  });
  assert.deepEqual(ids, Array.from({ length: 31 }, (_, k) => k));
  assert.deepEqual(rs.map((r) => r.devices.count), [10, 10, 11]);
  const merged = await fleet(["fleet", "merge", "c0.json", "c1.json", "c2.json", "--report", "m.json", "--csv", "m.csv"]);
  assert.equal(merged.code, 0, merged.stderr);
  const m = readJson("m.json");
  assert.deepEqual(m.problems, []);
  assert.equal(m.devices.count, 31);
  assert.equal(m.totals.sent, 62);
  assert.equal(m.connect.connected, 31);
  assert.match(merged.stdout, /3 shards merged[\s\S]*PASSED/);
  const partial = await fleet(["fleet", "merge", "c0.json", "c2.json"]);
  assert.equal(partial.code, 1);
  assert.match(partial.stderr, /shard 1 of 3 missing/);
});

test("fleet_wrong_key_fails_the_error_rate_and_exits_1_fails", async () => {
  const good = await service.createDevice(`${tag}d1`);
  const wrong = `HostName=${emu.hostName};DeviceId=${tag}d1;SharedAccessKey=${Buffer.alloc(32, 9).toString("base64")}`;
  writeFileSync(join(dir, "cs.txt"), `# two devices\n${good.connectionString}\n\n${wrong.replace(`${tag}d1`, `${tag}d2`)}\n`);
  await service.createDevice(`${tag}d2`);
  const r = await fleet(["fleet", "--connection-strings", "cs.txt", "--url", emu.wsUrl, "--messages", "2", "--interval", "0.2", "--progress", "off", "--report", "d.json"]);
  assert.equal(r.code, 1, `${r.stderr}\n${r.stdout}`);
  const rep = readJson("d.json");
  assert.equal(rep.devices.source, "file");
  assert.equal(rep.connect.connected, 1);
  assert.equal(rep.connect.failed, 1);
  assert.deepEqual(rep.totals.errorsByCode, { "connect:UNAUTHORIZED": 1 });
  assert.equal(rep.totals.acked, 2);
  assert.match(r.stdout, /FAILED: error rate/);
  assert.match(r.stderr, /first connect:UNAUTHORIZED/);
});

test("fleet_sigint_disconnects_every_device_and_writes_the_report_succeeds", async () => {
  const prefix = `${tag}e`;
  const p = startProcess(process.execPath, [CLI, ...base(), "--prefix", prefix, "--count", "40", "--report", "e.json"], { cwd: dir });
  try {
    await waitFor(p, /all 40 devices connected/, "all 40 connected");
    await new Promise((r) => setTimeout(r, 1500));
    p.child.kill("SIGINT");
    const { code } = await p.exited;
    assert.equal(code, 130, p.out.stderr);
    const r = readJson("e.json");
    assert.equal(r.stoppedBy, "SIGINT");
    assert.equal(r.totals.errors, 0, JSON.stringify(r.totals.errorsByCode));
    assert.equal(r.totals.acked, r.totals.sent, "messages in flight are acknowledged before the disconnect");
    for (const n of [1, 20, 40]) {
      const c = await service.connection(`${prefix}${String(n).padStart(6, "0")}`);
      assert.equal(c.connected, false, `device ${n} still connected`);
    }
  } finally {
    await p.stop();
  }
});

test("fleet_dps_group_enrollment_provisions_then_runs_and_wrong_key_fails", async () => {
  // A group enrollment made over the emulator's DPS service API; the fleet derives each
  // device's key from the group key, registers through DPS (hubwire/provisioning, pkg-dps/)
  // and runs the devices on the hub DPS assigned.
  const group = `${tag}grp`;
  const g = await service.request("PUT", `/enrollmentGroups/${group}`, { attestation: { type: "symmetricKey" } });
  const groupKey = g.attestation.symmetricKey.primaryKey;
  const { idScope } = await service.request("GET", "/emulator/dps");
  const prefix = `${tag}dps`;
  const args = ["fleet", "--id-scope", idScope, "--group-key", groupKey, "--url", emu.wsUrl, "--prefix", prefix, "--progress", "line",
    "--ramp-per-sec", "0", "--count", "12", "--messages", "3", "--interval", "0.2", "--report", "dps.json", "--max-error-rate", "0"];
  const r = await fleet(args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /dps: 12\/12 devices registered/);
  const rep = readJson("dps.json");
  assert.equal(rep.devices.source, "dps");
  assert.equal(rep.devices.count, 12);
  assert.equal(rep.devices.dps.registered, 12);
  assert.equal(rep.devices.hostName, emu.hostName);
  assert.equal(rep.totals.acked, 36);
  assert.equal(rep.totals.errors, 0);
  // DPS made the devices in the hub's registry and recorded each registration.
  const id = (n) => `${prefix}${String(n).padStart(6, "0")}`;
  const reg = await service.request("GET", `/registrations/${id(7)}`);
  assert.equal(reg.status, "assigned");
  assert.equal(reg.deviceId, id(7));
  assert.equal((await service.telemetry(id(7))).length, 3);
  // A rerun registers the same devices again (idempotent) and runs them.
  const again = await fleet(args);
  assert.equal(again.code, 0, again.stderr);
  // The wrong group key: DPS refuses the first registration, the fleet exits with DPS's error.
  const bad = await fleet(["fleet", "--id-scope", idScope, "--group-key", Buffer.from("not the key").toString("base64"), "--url", emu.wsUrl,
    "--prefix", `${tag}bad`, "--count", "2", "--messages", "1", "--progress", "off"]);
  assert.equal(bad.code, 2, "an identity problem, before any device connects");
  // Whichever of the two registrations DPS refuses first ends the run, with DPS's code once.
  assert.match(bad.stderr, /registering .*bad00000[12] failed: UNAUTHORIZED: .*401002.*\[DPS\]/);
  assert.equal(bad.stderr.match(/401002/g).length, 1, bad.stderr);
});

test("fleet_bad_invocations_exit_2_fail", async () => {
  const cases = [
    [["fleet", "--bogus"], /unknown option --bogus.*\[USAGE\]/],
    [["fleet", "--count", "1"], /no identities/],
    [["fleet", "--id-scope", "0ne00000001"], /DPS needs both --id-scope and --group-key.*\[USAGE\]/],
    [["fleet", "--service-connection-string", "HostName=h;DeviceId=d;SharedAccessKey=a2V5a2V5a2V5a2V5a2V5a2V5"], /this is a device connection string/],
    [["fleet", "--connection-strings", "nope.txt"], /cannot read --connection-strings/],
    [[...base(), "--template", "missing.json"], /cannot read template missing\.json.*\[TEMPLATE\]/],
    [["fleet", "merge", "nope.json"], /cannot read report/],
    [["wat"], /usage: hubwire fleet/],
  ];
  const { IOTHUB_CONNECTION_STRING, ...env } = process.env;
  for (const [args, re] of cases) {
    const r = await fleet(args, { timeoutMs: 20000, env });
    assert.ok(r.code === 2 || (args[1] === "merge" && r.code === 1), `${args.join(" ")} exited ${r.code}`);
    assert.match(r.stderr, re, args.join(" "));
  }
  const help = await fleet(["fleet", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--ramp-per-sec/);
  const tpl = await fleet(["fleet", "template", "--devices", "1", "--messages", "2", "--seed", "x"]);
  assert.equal(tpl.code, 0, tpl.stderr);
  const lines = tpl.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[1].body).counter, 2);
});

test("fleet_examples_template_methods_and_hosts_script_succeeds", async () => {
  const prefix = `${tag}x`;
  const p = startProcess(process.execPath, [CLI, ...base(), "--prefix", prefix, "--count", "6", "--duration", "4",
    "--template", join(repo, "examples", "fleet", "template.mjs"), "--methods", join(repo, "examples", "fleet", "methods.mjs"), "--report", "x.json"], { cwd: dir });
  try {
    await waitFor(p, /all 6 devices connected/, "all 6 connected");
    const id = `${prefix}000002`;
    const cfg = await service.invokeMethod(id, "getConfig", {});
    assert.deepEqual(cfg, { status: 200, payload: { id, index: 2, interval: 0.5, state: "connected" } });
    assert.deepEqual(await service.invokeMethod(id, "burst", { count: 5 }), { status: 200, payload: { sent: 5 } });
    assert.deepEqual(await service.invokeMethod(id, "setInterval", { interval: 0.2 }), { status: 200, payload: { interval: 0.2 } });
    assert.equal((await service.getTwin(id)).properties.reported.interval, 0.2);
    assert.equal((await p.exited).code, 0, p.out.stderr);
    const [m] = await service.telemetry(`${prefix}000003`);
    const body = JSON.parse(m.body);
    assert.equal(body.deviceId, `${prefix}000003`);
    assert.ok(body.rms >= 0.2 && body.rms < 6, JSON.stringify(body));
    assert.ok(["yes", "no"].includes(m.properties.spike));
  } finally {
    await p.stop();
  }
  // examples/fleet/run-on-hosts.sh with ssh, scp and npx standing in for two hosts.
  const shim = join(dir, "shim");
  const { mkdirSync, chmodSync } = await import("node:fs");
  mkdirSync(shim, { recursive: true });
  const put = (name, text) => {
    writeFileSync(join(shim, name), text);
    chmodSync(join(shim, name), 0o755);
  };
  put("ssh", `#!/usr/bin/env bash\nshift\nexec bash -c "$1"\n`);
  put("scp", `#!/usr/bin/env bash\n[ "$1" = -q ] && shift\ncp "\${1#*:}" "$2"\n`);
  put("npx", `#!/usr/bin/env bash\nwhile [ "$1" != hubwire ]; do shift; done\nshift\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  writeFileSync(join(dir, "hosts.txt"), "# two hosts\nhost-a\nhost-b\n");
  const r = await runProcess("bash", [join(repo, "examples", "fleet", "run-on-hosts.sh"), "hosts.txt", "--url", emu.wsUrl, "--prefix", `${tag}h`, "--count", "9", "--messages", "2", "--interval", "0.2", "--ramp-per-sec", "0"], {
    cwd: dir,
    timeoutMs: 90000,
    env: { ...process.env, PATH: `${shim}:${process.env.PATH}`, IOTHUB_CONNECTION_STRING: emu.serviceConnectionString },
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const merged = readJson("reports/merged.json");
  assert.deepEqual(merged.problems, []);
  assert.deepEqual(merged.shards.map((s) => s.devices), [4, 5]);
  assert.equal(merged.totals.acked, 18);
});

test("fleet_k8s_job_example_args_parse_succeeds", async () => {
  const { parseFleetArgs } = await import("../../packaging/fleet/args.js");
  const yaml = readFileSync(join(repo, "examples", "fleet", "k8s-job.yaml"), "utf8");
  const m = /args:\n\s+- >-\n((?:\s{14}.*\n)+)/.exec(yaml);
  assert.ok(m, "the Job's args block");
  const words = m[1].replace(/\s+/g, " ").trim().replaceAll("$JOB_COMPLETION_INDEX", "5").replace(/"/g, "").split(" ");
  assert.deepEqual(words.slice(0, 4), ["npx", "--yes", "hubwire", "fleet"]);
  const o = parseFleetArgs(words.slice(4), { IOTHUB_CONNECTION_STRING: "HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAA==" });
  assert.deepEqual(o.shard, { index: 5, count: 8 });
  assert.equal(o.count, 80000);
  assert.equal(o.duration, 1800);
  assert.equal(o.report, "/reports/shard-5.json");
  assert.match(yaml, /completionMode: Indexed[\s\S]*completions: 8/);
});

test("fleet_connack_3_and_twin_429_are_retried_by_the_library_succeeds", async () => {
  const ids = [`${tag}r1`, `${tag}r2`, `${tag}r3`];
  const lines = [];
  for (const id of ids) lines.push((await service.createDevice(id)).connectionString);
  writeFileSync(join(dir, "retry.txt"), `${lines.join("\n")}\n`);
  // IoT Hub's throttling answers, from the emulator: CONNACK 3 twice for r1, twin 429 once for r2.
  await service.fault(ids[0], { kind: "serverUnavailable", count: 2 });
  await service.fault(ids[1], { kind: "twinThrottle", count: 1 });
  const r = await fleet(["fleet", "--connection-strings", "retry.txt", "--url", emu.wsUrl, "--messages", "2", "--interval", "0.2",
    "--retry-min-ms", "100", "--retry-max-ms", "400", "--progress", "off", "--report", "retry.json", "--max-error-rate", "0"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const rep = readJson("retry.json");
  assert.equal(rep.connect.connected, 3);
  assert.equal(rep.totals.errors, 0, JSON.stringify(rep.totals.errorsByCode));
  assert.ok((rep.totals.disconnectCodes.SERVER_UNAVAILABLE || 0) >= 2, JSON.stringify(rep.totals.disconnectCodes));
  assert.equal(rep.totals.counters.reportedAcked, 3, "the throttled twin report was retried and acknowledged");
  assert.equal(rep.totals.acked, 6);
  assert.equal((await service.connection(ids[0])).connections, 1, "r1 connected once, after two refusals");
});

test("fleet_with_the_runtimes_global_websocket_succeeds", async () => {
  const r = await fleet([...base(), "--prefix", `${tag}g`, "--count", "5", "--messages", "2", "--interval", "0.2", "--websocket", "global", "--report", "g.json", "--max-error-rate", "0"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const rep = readJson("g.json");
  assert.equal(rep.config.websocket, "global");
  assert.equal(rep.totals.acked, 10);
});

test("fleet_over_wss_and_https_succeeds", async () => {
  // As against IoT Hub: TLS for the devices (wss://) and the registry (https://).
  const tls = await startEmulator({ tls: true });
  try {
    const r = await fleet(["fleet", "--service-connection-string", tls.serviceConnectionString, "--url", tls.wssUrl, "--prefix", `${tag}t`,
      "--count", "5", "--messages", "2", "--interval", "0.2", "--ramp-per-sec", "0", "--progress", "off", "--report", "tls.json", "--max-error-rate", "0"],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certPath } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rep = readJson("tls.json");
    assert.equal(rep.devices.registry.created + rep.devices.registry.reused, 5);
    assert.equal(rep.totals.acked, 10);
    assert.match(rep.config.url, /^wss:\/\//);
  } finally {
    await tls.stop();
  }
});
