// The fleet's template engine (packaging/fleet/template.js): every variable
// kind, placeholders, properties, sizes, alternatives, per-device overrides,
// the reference tool's file format and JS templates.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { compileTemplate, DEFAULT_TEMPLATE, fromReferenceFormat, loadTemplateFile, padBody, parsePayloadDistribution } from "../../packaging/fleet/template.js";

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

/** The first `n` messages of device `id` (index `i`). */
function messages(spec, n, { id = "sim000001", i = 1, opts = { seed: "t" } } = {}) {
  const g = compileTemplate(spec, opts).forDevice(id, i);
  return Array.from({ length: n }, (_, k) => g.next(T0 + k * 1000));
}
const bodies = (spec, n, o) => messages(spec, n, o).map((m) => JSON.parse(m.body));

function templateError(spec, re) {
  assert.throws(() => compileTemplate(spec, {}), (e) => e.code === "TEMPLATE" && re.test(e.message), `expected TEMPLATE error ${re}`);
}

test("template_json_placeholders_keep_types_succeeds", () => {
  const [m] = messages({ body: { id: "$.DeviceId", n: "$.MessageNumber", label: "dev-$.DeviceId-#$.MessageNumber", nested: [{ idx: "$.DeviceIndex" }], lit: 5, t: "$.Time" } }, 1, { id: "d7", i: 7 });
  assert.deepEqual(JSON.parse(m.body), { id: "d7", n: 1, label: "dev-d7-#1", nested: [{ idx: 7 }], lit: 5, t: "2024-01-02T03:04:05.678Z" });
  assert.equal(m.options.contentType, "application/json");
  assert.equal(m.options.contentEncoding, "utf-8");
});

test("template_counter_starts_steps_and_wraps_succeeds", () => {
  const b = bodies({ body: { c: "$.C", d: "$.D" }, variables: [{ name: "C", min: 100, max: 102 }, { name: "D", step: 5 }] }, 5);
  assert.deepEqual(b.map((x) => x.c), [100, 101, 102, 100, 101]);
  assert.deepEqual(b.map((x) => x.d), [1, 6, 11, 16, 21]);
});

test("template_random_kinds_stay_in_range_succeeds", () => {
  const b = bodies({
    body: { r: "$.R", d: "$.D", s: "$.S", v: "$.V", w: "$.W" },
    variables: [
      { name: "R", random: true, min: 23, max: 25 },
      { name: "D", randomDouble: true, min: 0.22, max: 1.25, decimals: 2 },
      { name: "S", customLengthString: 12 },
      { name: "V", values: ["on", "off", 3] },
      { name: "W", walk: true, min: 10, max: 11, step: 0.3, decimals: 1 },
    ],
  }, 400);
  for (const x of b) {
    assert.ok(Number.isInteger(x.r) && x.r >= 23 && x.r < 25, `random ${x.r}`);
    assert.ok(x.d >= 0.22 && x.d <= 1.25 && Math.abs(x.d * 100 - Math.round(x.d * 100)) < 1e-9, `randomDouble ${x.d}`);
    assert.match(x.s, /^[A-Za-z0-9]{12}$/);
    assert.ok(["on", "off", 3].includes(x.v));
    assert.ok(x.w >= 10 && x.w <= 11, `walk ${x.w}`);
  }
  assert.deepEqual(new Set(b.map((x) => x.r)), new Set([23, 24]), "both values of [23, 25) appear");
  assert.equal(new Set(b.map((x) => x.v)).size, 3);
  assert.equal(b[0].w, 10.5, "a walk starts in the middle");
  for (let k = 1; k < b.length; k++) assert.ok(Math.abs(b[k].w - b[k - 1].w) <= 0.31, "a walk moves by at most step");
});

test("template_seed_makes_values_reproducible_succeeds", () => {
  const spec = { body: { r: "$.R", g: "$.Guid" }, variables: [{ name: "R", randomDouble: true }] };
  assert.deepEqual(bodies(spec, 5), bodies(spec, 5));
  assert.notDeepEqual(bodies(spec, 5), bodies(spec, 5, { id: "sim000002" }), "each device has its own stream");
  assert.match(bodies(spec, 1)[0].g, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const unseeded = messages(spec, 2, { opts: {} }).map((m) => JSON.parse(m.body).g);
  assert.notEqual(unseeded[0], unseeded[1]);
});

test("template_per_device_fields_succeeds", () => {
  const spec = {
    body: { model: "$.Model", site: "$.Site", loc: "$.Loc" },
    variables: [
      { name: "Model", values: ["a", "b", "c"], pick: "index", perDevice: true },
      { name: "Site", value: "plant-7" },
      { name: "Loc", randomDouble: true, min: 0, max: 90, perDevice: true },
    ],
  };
  for (const i of [0, 1, 2, 3]) {
    const b = bodies(spec, 4, { id: `d${i}`, i });
    assert.ok(b.every((x) => x.model === ["a", "b", "c"][i % 3] && x.site === "plant-7"));
    assert.equal(new Set(b.map((x) => x.loc)).size, 1, "a perDevice value is drawn once");
  }
});

test("template_sequence_references_and_holds_unused_counter_succeeds", () => {
  // As the reference tool: Counter only advances on the iterations the sequence uses it.
  const b = bodies({
    body: { v: "$.Seq", c: "$.Counter" },
    variables: [{ name: "Seq", sequence: true, values: ["$.Counter", "$.Counter", "x", "$.Counter"] }, { name: "Counter" }],
  }, 6);
  assert.deepEqual(b.map((x) => x.v), [1, 2, "x", 3, 4, 5]);
  assert.deepEqual(b.map((x) => x.c), [1, 2, 2, 3, 4, 5]);
});

test("template_time_kinds_and_builtins_succeeds", () => {
  const [x] = bodies({
    body: { iso: "$.Iso", ep: "$.Ep", ms: "$.EpochMs", ticks: "$.Ticks", later: "$.Later", epoch: "$.Epoch", shard: "$.Shard", of: "$.ShardCount", it: "$.IterationNumber", host: "$.MachineName", local: "$.LocalTime" },
    variables: [{ name: "Iso", time: "iso" }, { name: "Ep", time: "epoch" }, { name: "Later", time: "iso", offsetSeconds: 60 }],
  }, 1, { opts: { seed: "t", shard: 2, shardCount: 5, machineName: "pod-2" } });
  assert.equal(x.iso, "2024-01-02T03:04:05.678Z");
  assert.equal(x.later, "2024-01-02T03:05:05.678Z");
  assert.equal(x.ep, Math.floor(T0 / 1000));
  assert.equal(x.epoch, Math.floor(T0 / 1000));
  assert.equal(x.ms, T0);
  assert.deepEqual([x.shard, x.of, x.it, x.host], [2, 5, 0, "pod-2"]);
  assert.match(x.local, /^2024-01-0[12]T\d\d:\d\d:05\.678[+-]\d\d:\d\d$/);
  // .NET ticks of T0, exact (the JSON number has more digits than a double holds).
  const [m] = messages({ body: { ticks: "$.Ticks" } }, 1);
  assert.equal(m.body, `{"ticks":${621355968000000000n + BigInt(T0) * 10000n}}`);
});

test("template_text_body_longest_known_name_and_escape_succeeds", () => {
  const [m] = messages({ body: "id=$.DeviceId;c=$.Counter0;lit=$$.Counter", variables: [{ name: "Counter" }] }, 1, { id: "x" });
  assert.equal(m.body, "id=x;c=10;lit=$.Counter");
  assert.equal(m.options.contentType, undefined, "a text body sets no content type");
});

test("template_properties_and_system_properties_succeeds", () => {
  const [m] = messages({
    body: { a: 1 },
    properties: { alert: "$.Alert", dev: "$.DeviceId" },
    messageId: "$.DeviceId-$.MessageNumber",
    correlationId: "corr",
    contentType: "application/vnd+json",
    contentEncoding: null,
    component: "thermostat1",
    variables: [{ name: "Alert", values: [true] }],
  }, 1, { id: "d1" });
  assert.deepEqual(m.options, { properties: { alert: "true", dev: "d1" }, contentType: "application/vnd+json", messageId: "d1-1", correlationId: "corr", component: "thermostat1" });
});

test("template_payload_size_pads_exactly_succeeds", () => {
  for (const size of [40, 41, 64, 1000]) {
    const [m] = messages({ body: { deviceId: "$.DeviceId", n: "$.MessageNumber" }, payloadSize: size }, 1);
    assert.equal(Buffer.byteLength(m.body), size, m.body);
    assert.equal(JSON.parse(m.body).deviceId, "sim000001");
  }
  const [small] = messages({ body: { deviceId: "$.DeviceId" }, payloadSize: 5 }, 1);
  assert.equal(small.body, '{"deviceId":"sim000001"}', "a larger body is left as it is");
  assert.equal(padBody("{}", 12, true), '{"_pad":"x"}');
  assert.equal(padBody("{}", 5, true), "{}   ", "too little room for a member: spaces");
  assert.equal(padBody("abc", 6, false), "abc   ");
  const [viaOpt] = messages({ body: { a: 1 } }, 1, { opts: { payloadSize: 300 } });
  assert.equal(viaOpt.body.length, 300);
});

test("template_fixed_payloads_succeeds", () => {
  const [z] = messages({ fixSize: 16 }, 1);
  assert.deepEqual(z.body, new Uint8Array(16));
  assert.equal(z.options.contentType, undefined);
  const [b] = messages({ fix: Buffer.from("hi there").toString("base64") }, 1);
  assert.equal(Buffer.from(b.body).toString(), "hi there");
  const [t] = messages({ fixText: "plain" }, 1);
  assert.equal(Buffer.from(t.body).toString(), "plain");
});

test("template_weighted_payloads_follow_weights_succeeds", () => {
  const ms = messages({ body: { t: 1 }, payloads: [{ weight: 10, fixSize: 12 }, { weight: 25 }, { weight: 65, fixText: "aaaa" }] }, 4000);
  const kinds = { fix12: 0, json: 0, text: 0 };
  for (const m of ms) {
    if (typeof m.body === "string") kinds.json++;
    else if (m.body.length === 12) kinds.fix12++;
    else kinds.text++;
  }
  assert.ok(Math.abs(kinds.fix12 / 4000 - 0.1) < 0.03, JSON.stringify(kinds));
  assert.ok(Math.abs(kinds.json / 4000 - 0.25) < 0.03, JSON.stringify(kinds));
  assert.ok(Math.abs(kinds.text / 4000 - 0.65) < 0.03, JSON.stringify(kinds));
});

test("template_device_overrides_and_interval_lists_succeeds", () => {
  const t = compileTemplate({
    interval: [1, 2],
    body: { kind: "default" },
    devices: { "sim000002": { interval: 10, body: { kind: "two" } }, "edge-*": { properties: { edge: "yes" } } },
  }, { seed: "s" });
  const d1 = t.forDevice("sim000001", 1);
  assert.deepEqual([d1.nextInterval(), d1.nextInterval(), d1.nextInterval()], [1, 2, 1]);
  const d2 = t.forDevice("sim000002", 2);
  assert.equal(d2.nextInterval(), 10);
  assert.equal(JSON.parse(d2.next(T0).body).kind, "two");
  const e = t.forDevice("edge-9", 9).next(T0);
  assert.equal(JSON.parse(e.body).kind, "default", "an override without a body keeps the template's");
  assert.deepEqual(e.options.properties, { edge: "yes" });
  assert.deepEqual(compileTemplate({ body: {} }, { interval: 0.5 }).forDevice("a", 0).nextInterval(), 0.5, "--interval overrides");
});

test("template_duplicates_about_one_in_n_succeeds", () => {
  const dup = messages({ body: { a: 1 }, duplicateEvery: 10 }, 5000).filter((m) => m.duplicate).length;
  assert.ok(dup > 350 && dup < 650, `${dup} duplicates of 5000`);
  assert.equal(messages({ body: { a: 1 } }, 100).filter((m) => m.duplicate).length, 0);
});

test("template_reference_tool_format_succeeds", () => {
  // Azure-Samples/Iot-Telemetry-Simulator's README example 1, with its unquoted-key Variables.
  const spec = {
    Template: '{ "deviceId": "$.DeviceId", "rand_int": $.Temp, "rand_double": $.DoubleValue, "Ticks": $.Ticks, "Counter": $.Counter, "time": "$.Time" }',
    Variables: '[{name: "Temp", "random": true, "max": 25, "min": 23}, {"name":"Counter", "min":100, "max":102}, {"name": "DoubleValue", "randomDouble":true, "min":0.22, "max":1.25}]',
    Header: '{"source": "$.MachineName", "n": "$.Counter"}',
    Intervals: { sim000002: [100, 200] },
    DuplicateEveryNEvents: 0,
  };
  const b = bodies(spec, 4, { opts: { seed: "r", machineName: "m1" } });
  assert.deepEqual(b.map((x) => x.Counter), [100, 101, 102, 100]);
  assert.ok(b.every((x) => x.deviceId === "sim000001" && x.rand_int >= 23 && x.rand_int < 25 && x.rand_double >= 0.22));
  assert.deepEqual(messages(spec, 1, { opts: { machineName: "m1" } })[0].options.properties, { source: "m1", n: "100" });
  const d2 = compileTemplate(spec, {}).forDevice("sim000002", 2);
  assert.deepEqual([d2.nextInterval(), d2.nextInterval(), d2.nextInterval()], [0.1, 0.2, 0.1]);
  assert.deepEqual(parsePayloadDistribution("fixSize(10, 12) template(25, default) fix(65, aaaaBBBBBCCC)"), [
    { weight: 10, fixSize: 12 }, { weight: 25, template: "default" }, { weight: 65, fixText: "aaaaBBBBBCCC" },
  ]);
  const conv = fromReferenceFormat({ Payloads: [{ type: "fix", deviceId: "sim000002", value: '{"v":"x"}' }, { type: "template", deviceId: "sim000003", template: '{"d":"$.DeviceId"}' }], FixPayloadSize: 0, Template: "{}" });
  assert.deepEqual(conv.devices, { sim000002: { fixText: '{"v":"x"}' }, sim000003: { body: '{"d":"$.DeviceId"}' } });
  const t = compileTemplate({ Template: "{}", PayloadDistribution: "fixSize(50, 3) template(50, default)" }, { seed: "q" });
  const g = t.forDevice("a", 0);
  const sizes = new Set(Array.from({ length: 50 }, () => g.next(T0).body.length));
  assert.ok(sizes.has(3) && sizes.has(2), [...sizes].join());
});

test("template_js_function_and_object_succeeds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hubwire-tpl-"));
  writeFileSync(join(dir, "fn.mjs"), `export default (ctx) => ({ body: { id: ctx.deviceId, n: ctx.messageNumber, s: (ctx.state.k = (ctx.state.k || 0) + 2) }, properties: { p: ctx.index }, messageId: "m" + ctx.messageNumber });\n`);
  writeFileSync(join(dir, "obj.mjs"), `export default {
    interval: 2,
    init: (ctx) => { ctx.state.base = ctx.index * 100; },
    variables: [{ name: "Sq", fn: (ctx) => ctx.messageNumber ** 2 }, { name: "C" }],
    body: (ctx, v) => ({ base: ctx.state.base, sq: v.Sq, c: v.C, id: v.DeviceId }),
    properties: (ctx, v) => ({ n: v.MessageNumber }),
  };\n`);
  writeFileSync(join(dir, "text.mjs"), `export default () => "raw text";\n`);
  const fn = compileTemplate(await loadTemplateFile(join(dir, "fn.mjs")), {}).forDevice("d", 4);
  fn.next(T0);
  const m2 = fn.next(T0);
  assert.deepEqual(JSON.parse(m2.body), { id: "d", n: 2, s: 4 });
  assert.deepEqual(m2.options, { contentType: "application/json", contentEncoding: "utf-8", properties: { p: "4" }, messageId: "m2" });
  const obj = compileTemplate(await loadTemplateFile(join(dir, "obj.mjs")), {}).forDevice("e", 3);
  assert.equal(obj.nextInterval(), 2);
  obj.next(T0);
  const o2 = obj.next(T0);
  assert.deepEqual(JSON.parse(o2.body), { base: 300, sq: 4, c: 2, id: "e" });
  assert.deepEqual(o2.options.properties, { n: "2" });
  const txt = compileTemplate(await loadTemplateFile(join(dir, "text.mjs")), {}).forDevice("e", 3).next(T0);
  assert.equal(txt.body, "raw text");
  assert.equal(txt.options.contentType, undefined);
});

test("template_default_is_valid_succeeds", () => {
  const b = bodies(DEFAULT_TEMPLATE, 3);
  assert.deepEqual(Object.keys(b[0]), ["deviceId", "temp", "humidity", "counter", "time", "engine"]);
  assert.deepEqual(b.map((x) => x.counter), [1, 2, 3]);
});

test("template_bad_specs_fail", async () => {
  templateError({ body: { a: "$.Nope" } }, /unknown variable \$\.Nope/);
  templateError({ body: { a: 1 }, bodyy: 2 }, /unknown key "bodyy"/);
  templateError({ body: {}, variables: [{ name: "A", random: true, sequence: true, values: [1] }] }, /choose one of random, sequence/);
  templateError({ body: {}, variables: [{ name: "A" }, { name: "A" }] }, /defined twice/);
  templateError({ body: {}, variables: [{ name: "DeviceId" }] }, /built-in/);
  templateError({ body: {}, variables: [{ name: "1x" }] }, /identifier/);
  templateError({ body: {}, variables: [{ name: "S", sequence: true }] }, /needs values/);
  templateError({ body: {}, variables: [{ name: "S", sequence: true, values: ["$.Q"] }] }, /names no variable/);
  templateError({ body: {}, variables: [{ name: "W", walk: true, min: 5, max: 1 }] }, /min < max/);
  templateError({ body: {}, variables: [{ name: "V", values: [] }] }, /non-empty/);
  templateError({ body: {}, variables: [{ name: "V", min: "3" }] }, /min must be a number/);
  templateError({ body: {}, variables: [{ name: "V", typo: 1 }] }, /unknown key "typo"/);
  templateError({}, /no body/);
  templateError({ body: {}, fixSize: 3 }, /exclude each other/);
  templateError({ body: {}, payloadSize: 0 }, /payloadSize/);
  templateError({ body: {}, interval: 0 }, /interval/);
  templateError({ body: {}, payloads: [] }, /non-empty/);
  templateError({ body: {}, payloads: [{ weight: -1 }] }, /weight/);
  templateError({ body: {}, devices: { a: { variables: [] } } }, /unknown key "variables"/);
  templateError({ body: {}, properties: { a: { b: 1 } } }, /property value is text/);
  templateError({ body: {}, fix: "not base64!" }, /base64/);
  templateError({ PayloadDistribution: "nonsense(1)" }, /cannot read/);
  templateError({ Template: "{}", Variables: "[{name: " }, /not JSON/);
  templateError("a string", /expected an object/);
  const dir = mkdtempSync(join(tmpdir(), "hubwire-tpl-"));
  writeFileSync(join(dir, "bad.json"), "{ nope");
  await assert.rejects(loadTemplateFile(join(dir, "bad.json")), (e) => e.code === "TEMPLATE" && /not JSON/.test(e.message));
  await assert.rejects(loadTemplateFile(join(dir, "missing.json")), (e) => e.code === "TEMPLATE" && /cannot read/.test(e.message));
  writeFileSync(join(dir, "nodefault.mjs"), "export const x = 1;\n");
  await assert.rejects(loadTemplateFile(join(dir, "nodefault.mjs")), (e) => e.code === "TEMPLATE" && /no default export/.test(e.message));
});

test("template_interval_spread_gives_each_device_its_rate_succeeds", () => {
  const t = compileTemplate({ body: {}, interval: 2 }, { intervalSpread: 0.2, seed: "k" });
  const rates = Array.from({ length: 50 }, (_, i) => t.forDevice(`d${i}`, i));
  const first = rates.map((g) => g.nextInterval());
  assert.ok(first.every((x) => x >= 1.6 && x <= 2.4), first.join());
  assert.ok(new Set(first).size > 10, "devices get different intervals");
  assert.deepEqual(rates.map((g) => g.nextInterval()), first, "a device keeps its own interval");
  assert.deepEqual(rates.map((g) => g.baseInterval()), first);
  assert.equal(compileTemplate({ body: {} }, {}).forDevice("x", 0).baseInterval(), 1);
  templateError({ body: {}, intervalSpread: 2 }, /intervalSpread/);
});

test("template_example_json_succeeds", async () => {
  const spec = await loadTemplateFile(new URL("../../examples/fleet/template.json", import.meta.url).pathname);
  const t = compileTemplate(spec, { seed: "ex" });
  const one = t.forDevice("sim000001", 1);
  assert.deepEqual([one.nextInterval(), one.nextInterval()], [0.5, 2].map((x) => x * one.intervalFactor).map((x) => Math.round(x * 1000) / 1000));
  const ms = Array.from({ length: 10 }, (_, k) => one.next(T0 + k * 1000));
  const b = ms.map((m) => JSON.parse(m.body));
  assert.ok(b.every((x) => x.model === "TH-200" && x.temperature >= 15 && x.temperature <= 30 && ["open", "closed"].includes(x.door)));
  assert.deepEqual(ms.map((m) => m.options.properties.alert), ["no", "no", "no", "no", "no", "no", "no", "no", "no", "yes"]);
  assert.equal(ms[2].options.messageId, "sim000001-3");
  const big = t.forDevice("sim000150", 150).next(T0);
  assert.equal(Buffer.byteLength(big.body), 1024, "sim0001* gets payloadSize 1024");
  assert.equal(JSON.parse(big.body).model, "TH-100");
});
