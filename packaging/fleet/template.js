// The telemetry template engine of `hubwire fleet` (docs/fleet.md, "Templates").
//
// A template says what each device sends: a body (JSON with `$.Name`
// placeholders, or text), message properties, system properties, a payload
// size, the interval, per-device overrides and weighted alternatives. Values
// come from variables (random, randomDouble, counter, values, sequence,
// customLengthString, walk, time, constant, per-device) and built-ins
// (DeviceId, Guid, Time, Ticks, …). It reads Azure-Samples/Iot-Telemetry-Simulator's
// configuration files too (`Template`, `Header`, `Variables`, `Intervals`,
// `Payloads`, `PayloadDistribution`, `FixPayload`, `FixPayloadSize`,
// `DuplicateEveryNEvents`). Templates compile once; each device then renders
// into prebuilt text pieces, with no JSON.parse per message.

import { FleetError } from "./errors.js";
import { rngFrom, uuidFrom } from "./rng.js";

/** Built-in variables, always available. */
export const BUILTINS = Object.freeze([
  "DeviceId", "DeviceIndex", "Guid", "Time", "LocalTime", "Ticks", "Epoch", "EpochMs",
  "MachineName", "MessageNumber", "IterationNumber", "Shard", "ShardCount",
]);

const TOP_KEYS = new Set([
  "interval", "intervalSpread", "body", "properties", "messageId", "correlationId", "contentType", "contentEncoding",
  "component", "payloadSize", "fix", "fixText", "fixSize", "variables", "payloads", "devices", "duplicateEvery", "init",
]);
const MESSAGE_KEYS = ["body", "properties", "messageId", "correlationId", "contentType", "contentEncoding", "component", "payloadSize", "fix", "fixText", "fixSize"];
const DEVICE_KEYS = new Set(["interval", "payloads", ...MESSAGE_KEYS]);
const PAYLOAD_KEYS = new Set(["weight", ...MESSAGE_KEYS]);
const SYSTEM_PROPS = ["messageId", "correlationId", "contentType", "contentEncoding", "component"];
const VAR_KEYS = new Set([
  "name", "random", "randomDouble", "min", "max", "step", "values", "sequence", "customLengthString",
  "decimals", "walk", "start", "value", "perDevice", "pick", "time", "offsetSeconds", "fn",
]);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER_RE = /\$\$\.|\$\.([A-Za-z_][A-Za-z0-9_]*)/g;
const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch. */
const TICKS_AT_EPOCH = 621355968000000000n;
const MAX_FIX_BYTES = 256 * 1024;

/** The template used without --template (the reference tool's default, plus a humidity walk). */
export const DEFAULT_TEMPLATE = Object.freeze({
  interval: 1,
  body: { deviceId: "$.DeviceId", temp: "$.Temp", humidity: "$.Humidity", counter: "$.Counter", time: "$.Time", engine: "$.Engine" },
  variables: [
    { name: "Temp", randomDouble: true, min: 20, max: 25, decimals: 2 },
    { name: "Humidity", walk: true, min: 30, max: 70, step: 0.5, decimals: 1 },
    { name: "Counter", min: 1 },
    { name: "Engine", values: ["on", "off"] },
  ],
});

const fail = (where, msg) => {
  throw new FleetError("TEMPLATE", `${where}: ${msg}`);
};
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
const num = (v) => typeof v === "number" && Number.isFinite(v);

// ------------------------------------------------------------ the reference tool's file format

/** Parses the reference's `PayloadDistribution` string: "fixSize(10, 12) template(25, default) fix(65, aaaa)". */
export function parsePayloadDistribution(text) {
  const out = [];
  const re = /\s*(fixSize|template|fix)\s*\(\s*([0-9.]+)\s*,\s*([^)]*?)\s*\)/gy;
  let m;
  let end = 0;
  while ((m = re.exec(text))) {
    const weight = Number(m[2]);
    if (m[1] === "fixSize") out.push({ weight, fixSize: Number(m[3]) });
    else if (m[1] === "fix") out.push({ weight, fixText: m[3] });
    else out.push({ weight, template: m[3] });
    end = re.lastIndex;
  }
  if (text.slice(end).trim() || !out.length) fail("PayloadDistribution", `cannot read ${JSON.stringify(text)} (expected e.g. "fixSize(10, 12) template(25, default) fix(65, aaaa)")`);
  return out;
}

/** True when `spec` looks like the reference tool's configuration file. */
function isReferenceFormat(spec) {
  return ["Template", "Header", "Variables", "Intervals", "Payloads", "PayloadDistribution", "FixPayload", "FixPayloadSize", "DuplicateEveryNEvents", "Interval"]
    .some((k) => k in spec);
}

/** Converts the reference tool's configuration (capitalised keys, intervals in ms) to ours. */
export function fromReferenceFormat(spec) {
  const out = {};
  const known = new Set(["Template", "Header", "Variables", "Intervals", "Interval", "Payloads", "PayloadDistribution", "FixPayload", "FixPayloadSize", "DuplicateEveryNEvents"]);
  for (const k of Object.keys(spec)) if (!known.has(k)) fail("template", `unknown key ${JSON.stringify(k)} in a reference-format file (known: ${[...known].join(", ")})`);
  const parseJsonish = (where, v) => {
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v);
    } catch {
      // The reference's examples quote no keys: [{name: "Temp", random: true}].
      try {
        return JSON.parse(v.replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:/g, '$1"$2":'));
      } catch (e) {
        return fail(where, `not JSON: ${e.message}`);
      }
    }
  };
  if (spec.Variables !== undefined) out.variables = parseJsonish("Variables", spec.Variables);
  if (spec.Template !== undefined) out.body = String(spec.Template);
  if (spec.Header !== undefined && String(spec.Header).trim()) out.headerText = String(spec.Header);
  if (spec.Interval !== undefined) out.interval = Number(spec.Interval) / 1000;
  if (spec.FixPayload !== undefined) out.fix = String(spec.FixPayload);
  if (spec.FixPayloadSize !== undefined && Number(spec.FixPayloadSize) > 0) out.fixSize = Number(spec.FixPayloadSize);
  if (spec.DuplicateEveryNEvents !== undefined && Number(spec.DuplicateEveryNEvents) > 0) out.duplicateEvery = Number(spec.DuplicateEveryNEvents);
  if (spec.PayloadDistribution !== undefined) {
    out.payloads = parsePayloadDistribution(String(spec.PayloadDistribution)).map((p) => {
      if (p.template === undefined) return p;
      if (p.template !== "default") fail("PayloadDistribution", `template(${p.weight}, ${p.template}): only the "default" template exists`);
      return { weight: p.weight };
    });
  }
  const devices = {};
  const dev = (id) => (devices[id] ??= {});
  if (isObj(spec.Intervals)) {
    for (const [id, v] of Object.entries(spec.Intervals)) dev(id).interval = Array.isArray(v) ? v.map((x) => Number(x) / 1000) : Number(v) / 1000;
  } else if (spec.Intervals !== undefined) {
    fail("Intervals", "expected an object of deviceId: milliseconds (or a list of them)");
  }
  if (Array.isArray(spec.Payloads)) {
    for (const [i, p] of spec.Payloads.entries()) {
      if (!isObj(p)) fail(`Payloads[${i}]`, "expected an object");
      const target = p.deviceId ? dev(String(p.deviceId)) : out;
      if (p.type === "template") target.body = String(p.template);
      else if (p.type === "fix") target.fixText = String(p.value);
      else fail(`Payloads[${i}]`, `type must be "template" or "fix", not ${JSON.stringify(p.type)}`);
    }
  }
  if (Object.keys(devices).length) out.devices = devices;
  return out;
}

// ------------------------------------------------------------ variables

function normaliseVariables(raw, where) {
  if (raw === undefined) return [];
  let list = raw;
  if (isObj(raw)) list = Object.entries(raw).map(([name, v]) => (isObj(v) ? { name, ...v } : { name, value: v }));
  if (!Array.isArray(list)) fail(where, "variables must be a list (or an object of name: definition)");
  const seen = new Set();
  return list.map((v, i) => {
    const at = `${where}[${i}]`;
    if (!isObj(v)) fail(at, "expected an object");
    for (const k of Object.keys(v)) if (!VAR_KEYS.has(k)) fail(at, `unknown key ${JSON.stringify(k)} (known: ${[...VAR_KEYS].join(", ")})`);
    const name = v.name;
    if (typeof name !== "string" || !NAME_RE.test(name)) fail(at, `name must be an identifier (letters, digits, _), not ${JSON.stringify(name)}`);
    if (BUILTINS.includes(name)) fail(at, `${name} is a built-in variable`);
    if (seen.has(name)) fail(at, `variable ${name} is defined twice`);
    seen.add(name);
    const kinds = ["random", "randomDouble", "sequence", "walk"].filter((k) => v[k] === true);
    if (v.customLengthString !== undefined) kinds.push("customLengthString");
    if (v.time !== undefined) kinds.push("time");
    if (v.fn !== undefined) kinds.push("fn");
    if (v.value !== undefined) kinds.push("value");
    if (kinds.length > 1) fail(at, `${name}: choose one of ${kinds.join(", ")}`);
    for (const k of ["min", "max", "step", "decimals", "start", "offsetSeconds"]) {
      if (v[k] !== undefined && !num(v[k])) fail(at, `${name}: ${k} must be a number`);
    }
    if (v.decimals !== undefined && !(Number.isInteger(v.decimals) && v.decimals >= 0 && v.decimals <= 15)) fail(at, `${name}: decimals must be 0 to 15`);
    if (v.values !== undefined && !(Array.isArray(v.values) && v.values.length)) fail(at, `${name}: values must be a non-empty list`);
    if (v.pick !== undefined && v.pick !== "random" && v.pick !== "index") fail(at, `${name}: pick must be "random" or "index"`);
    let kind = kinds[0] || (v.values ? "values" : "counter");
    if (kind === "sequence" && !v.values) fail(at, `${name}: a sequence needs values`);
    if (kind === "walk" && !(num(v.min) && num(v.max) && v.max > v.min)) fail(at, `${name}: a walk needs min < max`);
    if (kind === "customLengthString" && !(Number.isInteger(v.customLengthString) && v.customLengthString > 0 && v.customLengthString <= MAX_FIX_BYTES)) {
      fail(at, `${name}: customLengthString must be a length from 1 to ${MAX_FIX_BYTES}`);
    }
    if (kind === "time" && !["iso", "local", "epoch", "epochMs", "ticks"].includes(v.time)) fail(at, `${name}: time must be iso, local, epoch, epochMs or ticks`);
    if (kind === "fn" && typeof v.fn !== "function") fail(at, `${name}: fn must be a function (JS templates only)`);
    if (kind === "counter" && v.max !== undefined && v.max < (v.min ?? 1)) fail(at, `${name}: a counter's max is below its min`);
    if (v.step !== undefined && kind === "counter" && v.step === 0) fail(at, `${name}: step 0 never counts`);
    if (v.perDevice && kind === "sequence") fail(at, `${name}: a sequence cannot be perDevice`);
    return { ...v, kind };
  });
}

function roundTo(x, decimals) {
  if (decimals === undefined) return x;
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

function randomString(rng, n) {
  let s = "";
  for (let i = 0; i < n; i++) s += ALNUM[Math.floor(rng() * ALNUM.length)];
  return s;
}

function formatTime(kind, ms) {
  switch (kind) {
    case "iso":
      return new Date(ms).toISOString();
    case "local": {
      const d = new Date(ms);
      const off = -d.getTimezoneOffset();
      const p = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
      const sign = off >= 0 ? "+" : "-";
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}${sign}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
    }
    case "epoch":
      return Math.floor(ms / 1000);
    case "epochMs":
      return ms;
    case "ticks":
      return TICKS_AT_EPOCH + BigInt(Math.floor(ms)) * 10000n;
    default:
      throw new Error(kind);
  }
}

// ------------------------------------------------------------ text pieces

/** Splits `text` into static strings and variable names (longest known prefix wins). */
function splitPlaceholders(text, known, where) {
  const parts = [];
  let last = 0;
  let lit = "";
  for (const m of text.matchAll(PLACEHOLDER_RE)) {
    lit += text.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === "$$.") {
      lit += "$.";
      continue;
    }
    let name = m[1];
    while (name && !known.has(name)) name = name.slice(0, -1);
    if (!name) fail(where, `unknown variable $.${m[1]} (known: ${[...known].sort().join(", ")}; write $$. for a literal "$.")`);
    parts.push(lit, { name });
    lit = m[1].slice(name.length);
  }
  parts.push(lit + text.slice(last));
  return parts;
}

function toText(v) {
  if (typeof v === "string") return v;
  if (v === undefined) return "";
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function toJson(v) {
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "bigint") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v === undefined) return "null";
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));
}

/**
 * Compiles a body into a list whose items are static strings, `{name, json: true}`
 * (the value as JSON), `{parts}` (an interpolated string, JSON-quoted) or, for text
 * bodies, `{name}` / static strings.
 */
function compileJson(value, known, where) {
  const out = [];
  const lit = (s) => {
    if (typeof out[out.length - 1] === "string") out[out.length - 1] += s;
    else out.push(s);
  };
  const str = (s, at) => {
    const parts = splitPlaceholders(s, known, at);
    if (parts.length === 1) return lit(JSON.stringify(parts[0]));
    if (parts.length === 3 && parts[0] === "" && parts[2] === "") return out.push({ name: parts[1].name, json: true });
    out.push({ parts });
  };
  const walk = (v, at) => {
    if (typeof v === "string") return str(v, at);
    if (Array.isArray(v)) {
      lit("[");
      v.forEach((x, i) => {
        if (i) lit(",");
        walk(x, `${at}[${i}]`);
      });
      return lit("]");
    }
    if (isObj(v)) {
      lit("{");
      Object.entries(v).forEach(([k, x], i) => {
        if (i) lit(",");
        str(k, `${at}.${k}`);
        lit(":");
        walk(x, `${at}.${k}`);
      });
      return lit("}");
    }
    if (typeof v === "function") fail(at, "a function inside a JSON body (make `body` itself a function)");
    if (typeof v === "number" && !Number.isFinite(v)) fail(at, "not a finite number");
    return lit(JSON.stringify(v));
  };
  walk(value, where);
  return out;
}

function renderText(parts, vals) {
  let s = "";
  for (const p of parts) s += typeof p === "string" ? p : toText(vals[p.name]);
  return s;
}

function renderJson(items, vals) {
  let s = "";
  for (const p of items) {
    if (typeof p === "string") s += p;
    else if (p.json) s += toJson(vals[p.name]);
    else s += JSON.stringify(renderText(p.parts, vals));
  }
  return s;
}

function namesIn(items) {
  const names = new Set();
  const add = (p) => {
    if (typeof p === "string") return;
    if (p.name) names.add(p.name);
    if (p.parts) p.parts.forEach(add);
  };
  items.forEach(add);
  return names;
}

// ------------------------------------------------------------ compiling a message template

const encoder = new TextEncoder();
const isoCache = { ms: NaN, iso: "" };

function fixBytes(where, m) {
  if (m.fixSize !== undefined) {
    if (!(Number.isInteger(m.fixSize) && m.fixSize >= 0 && m.fixSize <= MAX_FIX_BYTES)) fail(where, `fixSize must be 0 to ${MAX_FIX_BYTES} bytes`);
    return new Uint8Array(m.fixSize);
  }
  if (m.fix !== undefined) {
    if (typeof m.fix !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(m.fix)) fail(where, "fix must be base64 text (use fixText for plain text)");
    return Uint8Array.from(atob(m.fix), (c) => c.charCodeAt(0));
  }
  if (m.fixText !== undefined) return encoder.encode(String(m.fixText));
  return null;
}

/** One compiled message shape: body + properties + system properties + size. */
function compileMessage(m, known, where) {
  const c = { names: new Set(), where };
  const fixed = fixBytes(where, m);
  const fixedCount = [m.fix, m.fixText, m.fixSize].filter((x) => x !== undefined).length;
  if (fixedCount > 1) fail(where, "choose one of fix, fixText, fixSize");
  if (fixed && m.body !== undefined) fail(where, "a fixed payload (fix/fixText/fixSize) and a body exclude each other");
  if (fixed) {
    c.fixed = fixed;
  } else if (m.messageFn) {
    c.messageFn = m.messageFn;
  } else if (typeof m.body === "function") {
    c.bodyFn = m.body;
  } else if (typeof m.body === "string") {
    c.text = splitPlaceholders(m.body, known, `${where}.body`);
    namesIn(c.text).forEach((n) => c.names.add(n));
  } else if (m.body !== undefined) {
    c.json = compileJson(m.body, known, `${where}.body`);
    namesIn(c.json).forEach((n) => c.names.add(n));
  } else {
    fail(where, "no body (give body, fix, fixText or fixSize)");
  }
  if (m.payloadSize !== undefined) {
    if (!(Number.isInteger(m.payloadSize) && m.payloadSize > 0 && m.payloadSize <= MAX_FIX_BYTES)) fail(where, `payloadSize must be 1 to ${MAX_FIX_BYTES} bytes`);
    if (c.fixed) fail(where, "payloadSize pads a body; a fixed payload already has its size");
    c.payloadSize = m.payloadSize;
  }
  if (typeof m.properties === "function") {
    c.propsFn = m.properties;
  } else if (m.properties !== undefined) {
    if (!isObj(m.properties)) fail(`${where}.properties`, "expected an object of name: value");
    c.props = Object.entries(m.properties).map(([k, v]) => {
      if (typeof v === "function" || isObj(v) || Array.isArray(v)) fail(`${where}.properties.${k}`, "a property value is text (placeholders allowed)");
      const parts = splitPlaceholders(String(v), known, `${where}.properties.${k}`);
      namesIn(parts).forEach((n) => c.names.add(n));
      return [k, parts];
    });
  }
  if (m.headerText !== undefined) {
    c.header = splitPlaceholders(m.headerText, known, `${where}.Header`);
    namesIn(c.header).forEach((n) => c.names.add(n));
  }
  c.system = [];
  for (const k of SYSTEM_PROPS) {
    if (m[k] === undefined) continue;
    if (m[k] === null) {
      c.system.push([k, null]);
      continue;
    }
    const parts = splitPlaceholders(String(m[k]), known, `${where}.${k}`);
    namesIn(parts).forEach((n) => c.names.add(n));
    c.system.push([k, parts]);
  }
  c.isJson = Boolean(c.json) || Boolean(c.bodyFn) || Boolean(c.messageFn);
  if (!c.bodyFn) c.constOptions = staticOptions(c);
  return c;
}

/** Pads `text` (a rendered body) to `size` bytes; returns it unchanged when already as large. */
export function padBody(text, size, json) {
  const need = size - Buffer.byteLength(text);
  if (need <= 0) return text;
  if (json) {
    // A JSON object gets a "_pad" member, so it stays valid JSON of exactly `size` bytes.
    const close = text.lastIndexOf("}");
    if (close >= 0 && text.slice(close + 1).trim() === "") {
      const before = text.slice(0, close);
      const head = `${before.trimEnd().endsWith("{") ? "" : ","}"_pad":"`;
      const fill = need - head.length - 1;
      if (fill >= 0) return `${before}${head}${"x".repeat(fill)}"${text.slice(close)}`;
    }
  }
  return text + " ".repeat(need);
}

/** A JS function's result as a body: text and bytes as they are, anything else as JSON. */
function bodyOf(b) {
  if (typeof b === "string" || b instanceof Uint8Array) return { body: b, json: false };
  return { body: JSON.stringify(b, (_k, x) => (typeof x === "bigint" ? Number(x) : x)) ?? "null", json: true };
}

/**
 * The options of a message shape whose properties are all constant (no
 * placeholders, no functions): built once and shared by every message, so the hot
 * path allocates nothing for them. Null when some property is rendered per message.
 */
function staticOptions(c) {
  if (c.messageFn || c.propsFn || c.header) return null;
  if (c.props && c.props.some(([, parts]) => parts.length !== 1)) return null;
  if (c.system.some(([, parts]) => parts !== null && parts.length !== 1)) return null;
  const options = {};
  if (c.props && c.props.length) options.properties = Object.fromEntries(c.props.map(([k, parts]) => [k, parts[0]]));
  if (c.isJson) {
    options.contentType = "application/json";
    options.contentEncoding = "utf-8";
  }
  for (const [k, parts] of c.system) {
    if (parts === null) delete options[k];
    else options[k] = parts[0];
  }
  if (options.properties) Object.freeze(options.properties);
  return Object.freeze(options);
}

function render(c, vals, ctx, properties) {
  if (c.constOptions && !properties) {
    let body = c.fixed || (c.json ? renderJson(c.json, vals) : renderText(c.text, vals));
    if (c.payloadSize && typeof body === "string") body = padBody(body, c.payloadSize, c.isJson);
    return { body, options: c.constOptions };
  }
  const options = {};
  let body;
  let json = c.isJson;
  let fromFn = null;
  if (c.fixed) {
    body = c.fixed;
  } else if (c.messageFn) {
    // A function template returns { body, properties, messageId, … } (or just the body).
    const r = c.messageFn(ctx, vals);
    fromFn = isObj(r) && "body" in r ? r : { body: r };
    ({ body, json } = bodyOf(fromFn.body));
  } else if (c.bodyFn) {
    ({ body, json } = bodyOf(c.bodyFn(ctx, vals)));
  } else if (c.json) {
    body = renderJson(c.json, vals);
  } else {
    body = renderText(c.text, vals);
  }
  if (c.payloadSize && typeof body === "string") body = padBody(body, c.payloadSize, json);
  let props = properties;
  if (c.props) {
    props = { ...(props || {}) };
    for (const [k, parts] of c.props) props[k] = renderText(parts, vals);
  }
  if (c.propsFn) props = { ...(props || {}), ...stringMap(c.propsFn(ctx, vals), `${c.where}.properties()`) };
  if (c.header) {
    const text = renderText(c.header, vals);
    let h;
    try {
      h = JSON.parse(text);
    } catch (e) {
      throw new FleetError("TEMPLATE", `${c.where}.Header renders to text that is not JSON (${e.message}): ${text.slice(0, 120)}`);
    }
    props = { ...(props || {}), ...stringMap(h, `${c.where}.Header`) };
  }
  if (props && Object.keys(props).length) options.properties = props;
  if (json) {
    options.contentType = "application/json";
    options.contentEncoding = "utf-8";
  }
  for (const [k, parts] of c.system) {
    if (parts === null) delete options[k];
    else options[k] = renderText(parts, vals);
  }
  if (fromFn) {
    if (fromFn.properties !== undefined) options.properties = { ...options.properties, ...stringMap(fromFn.properties, "template function .properties") };
    for (const k of SYSTEM_PROPS) {
      if (fromFn[k] === null) delete options[k];
      else if (fromFn[k] !== undefined) options[k] = String(fromFn[k]);
    }
  }
  return { body, options };
}

function stringMap(v, where) {
  if (v == null) return {};
  if (!isObj(v)) throw new FleetError("TEMPLATE", `${where}: expected an object of name: value`);
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = toText(x);
  return out;
}

// ------------------------------------------------------------ the whole template

function checkKeys(obj, allowed, where) {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) fail(where, `unknown key ${JSON.stringify(k)} (known: ${[...allowed].join(", ")})`);
  }
}

function intervalList(v, where) {
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (!list.length || !list.every((x) => num(x) && x >= 0.001 && x <= 86400)) fail(where, "interval must be seconds from 0.001 to 86400 (or a non-empty list of them)");
  return list;
}

function pickMessage(m, top) {
  const out = {};
  for (const k of MESSAGE_KEYS) if (m[k] !== undefined) out[k] = m[k];
  if (m.headerText !== undefined) out.headerText = m.headerText;
  // A device or payload entry with no payload of its own uses the top-level one.
  if (out.body === undefined && out.fix === undefined && out.fixText === undefined && out.fixSize === undefined && top) {
    for (const k of ["body", "fix", "fixText", "fixSize"]) if (top[k] !== undefined) out[k] = top[k];
  }
  for (const k of ["properties", "headerText", "payloadSize", ...SYSTEM_PROPS]) if (out[k] === undefined && top && top[k] !== undefined) out[k] = top[k];
  return out;
}

function compileAlternatives(spec, top, known, where) {
  if (spec.payloads === undefined) return [{ weight: 1, msg: compileMessage(pickMessage(spec, top), known, where) }];
  if (!Array.isArray(spec.payloads) || !spec.payloads.length) fail(`${where}.payloads`, "expected a non-empty list");
  const alts = spec.payloads.map((p, i) => {
    const at = `${where}.payloads[${i}]`;
    if (!isObj(p)) fail(at, "expected an object");
    checkKeys(p, PAYLOAD_KEYS, at);
    const weight = p.weight ?? 1;
    if (!(num(weight) && weight > 0)) fail(at, "weight must be a positive number");
    return { weight, msg: compileMessage(pickMessage(p, { ...top, ...pickMessage(spec) }), known, at) };
  });
  const total = alts.reduce((s, a) => s + a.weight, 0);
  let acc = 0;
  for (const a of alts) a.upTo = (acc += a.weight) / total;
  return alts;
}

function globToRe(glob) {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

/**
 * Normalises and checks a template spec (JSON data or a JS module's default export)
 * and compiles it. Throws FleetError("TEMPLATE") naming the bad key.
 *
 * @param {object|Function} spec
 * @param {{ shard?: number, shardCount?: number, machineName?: string, seed?: string, interval?: number, payloadSize?: number }} [opts]
 */
export function compileTemplate(spec, opts = {}) {
  const fnTemplate = typeof spec === "function";
  if (fnTemplate) {
    const interval = opts.interval !== undefined ? [opts.interval] : [1];
    const msg = { names: new Set(), where: "template()", messageFn: spec, system: [], isJson: true, payloadSize: opts.payloadSize };
    const intervalSpread = opts.intervalSpread ?? 0;
    return new Template({ vars: [], alts: [{ weight: 1, msg }], devices: [], interval, intervalSpread, duplicateEvery: undefined, init: undefined, opts, fnTemplate });
  }
  if (!isObj(spec)) fail("template", "expected an object (or, in a JS template, a function)");
  if (isReferenceFormat(spec)) spec = fromReferenceFormat(spec);
  const { headerText, ...rest } = spec;
  checkKeys(rest, TOP_KEYS, "template");
  if (spec.init !== undefined && typeof spec.init !== "function") fail("template.init", "must be a function (JS templates only)");
  const vars = normaliseVariables(spec.variables, "template.variables");
  const known = new Set([...BUILTINS, ...vars.map((v) => v.name)]);
  for (const v of vars) {
    if (v.kind !== "sequence") continue;
    for (const x of v.values) {
      if (typeof x === "string" && x.startsWith("$.")) {
        const ref = vars.find((o) => o.name === x.slice(2)) || (BUILTINS.includes(x.slice(2)) ? { kind: "builtin" } : null);
        if (!ref) fail(`template.variables.${v.name}`, `sequence value ${x} names no variable`);
        if (ref.kind === "sequence") fail(`template.variables.${v.name}`, `sequence value ${x} names another sequence`);
      }
    }
  }
  const top = { ...rest, headerText };
  if (opts.payloadSize !== undefined) top.payloadSize = opts.payloadSize;
  const interval = opts.interval !== undefined ? [opts.interval] : intervalList(spec.interval, "template.interval") || [1];
  const alts = compileAlternatives(top, null, known, "template");
  const devices = [];
  if (spec.devices !== undefined) {
    if (!isObj(spec.devices)) fail("template.devices", "expected an object of deviceId (or glob with *): overrides");
    for (const [id, d] of Object.entries(spec.devices)) {
      const at = `template.devices[${JSON.stringify(id)}]`;
      if (!isObj(d)) fail(at, "expected an object");
      checkKeys(d, DEVICE_KEYS, at);
      const hasOwn = MESSAGE_KEYS.some((k) => d[k] !== undefined) || d.payloads !== undefined;
      devices.push({
        match: id.includes("*") ? globToRe(id) : null,
        id,
        interval: intervalList(d.interval, `${at}.interval`),
        alts: hasOwn ? compileAlternatives(d, top, known, at) : null,
      });
    }
  }
  const intervalSpread = opts.intervalSpread ?? spec.intervalSpread ?? 0;
  if (!(num(intervalSpread) && intervalSpread >= 0 && intervalSpread <= 0.9)) fail("template.intervalSpread", "must be a fraction from 0 to 0.9");
  const duplicateEvery = spec.duplicateEvery;
  if (duplicateEvery !== undefined && !(num(duplicateEvery) && duplicateEvery >= 1)) fail("template.duplicateEvery", "must be a number ≥ 1");
  return new Template({ vars, alts, devices, interval, intervalSpread, duplicateEvery, init: spec.init, opts, fnTemplate });
}

/** A compiled template: `forDevice(id, index)` gives each device its generator. */
export class Template {
  constructor({ vars, alts, devices, interval, intervalSpread = 0, duplicateEvery, init, opts, fnTemplate }) {
    this.intervalSpread = intervalSpread;
    this.vars = vars;
    this.alts = alts;
    this.devices = devices;
    this.interval = interval;
    this.duplicateEvery = duplicateEvery;
    this.init = init;
    this.opts = opts;
    this.fnTemplate = fnTemplate;
    const names = new Set();
    const scan = (list) => list && list.forEach((a) => a.msg.names.forEach((n) => names.add(n)));
    scan(alts);
    devices.forEach((d) => scan(d.alts));
    for (const v of vars) {
      names.add(v.name);
      if (v.kind === "sequence") for (const x of v.values) if (typeof x === "string" && x.startsWith("$.")) names.add(x.slice(2));
    }
    const anyFn = fnTemplate || vars.some((v) => v.kind === "fn") || [alts, ...devices.map((d) => d.alts)].some((l) => l && l.some((a) => a.msg.bodyFn || a.msg.propsFn || a.msg.messageFn));
    // Function bodies get every built-in; otherwise only those some text names.
    this.builtins = BUILTINS.filter((b) => anyFn || names.has(b));
  }

  /** What the report says about the template. */
  describe() {
    return {
      variables: this.vars.map((v) => `${v.name}:${v.kind}${v.perDevice ? "/perDevice" : ""}`),
      alternatives: this.alts.length,
      deviceOverrides: this.devices.length,
      interval: this.interval,
      intervalSpread: this.intervalSpread,
      payloadSize: this.alts.map((a) => a.msg.payloadSize ?? (a.msg.fixed ? a.msg.fixed.length : null)),
      duplicateEvery: this.duplicateEvery ?? null,
    };
  }

  /** The generator of one device. */
  forDevice(deviceId, index) {
    const override = this.devices.find((d) => (d.match ? d.match.test(deviceId) : d.id === deviceId));
    return new DeviceMessages(this, deviceId, index, override);
  }
}

/** One device's message stream: `next(nowMs)` → `{ body, options, duplicate }`; `nextInterval()` in seconds. */
export class DeviceMessages {
  constructor(t, deviceId, index, override) {
    this.t = t;
    this.deviceId = deviceId;
    this.index = index;
    this.alts = (override && override.alts) || t.alts;
    this.intervals = (override && override.interval) || t.interval;
    this.rng = t.opts.seed !== undefined ? rngFrom(`${t.opts.seed}/${deviceId}`) : Math.random;
    // Each device's own rate within ±intervalSpread (drawn once, like the dashboard's fleet).
    this.intervalFactor = t.intervalSpread ? 1 + t.intervalSpread * (rngFrom(`spread/${t.opts.seed ?? Math.random()}/${deviceId}`)() * 2 - 1) : 1;
    this.iteration = -1;
    this.intervalStep = 0;
    this.prev = Object.create(null);
    this.fixedVals = Object.create(null);
    this.state = {};
    this.ctx = {
      deviceId,
      index,
      messageNumber: 0,
      now: 0,
      rng: this.rng,
      state: this.state,
      shard: t.opts.shard ?? 0,
      shardCount: t.opts.shardCount ?? 1,
      machineName: t.opts.machineName ?? "",
    };
    for (const v of t.vars) if (v.perDevice) this.fixedVals[v.name] = this.value(v, Date.now());
    if (t.init) t.init(this.ctx);
  }

  /** Seconds until the next message (lists cycle, as the reference's Intervals). */
  nextInterval() {
    const i = this.intervals[this.intervalStep % this.intervals.length];
    this.intervalStep++;
    return this.intervalFactor === 1 ? i : Math.round(i * this.intervalFactor * 1000) / 1000;
  }

  /** This device's first interval (with its spread), as it reports it. */
  baseInterval() {
    return this.intervalFactor === 1 ? this.intervals[0] : Math.round(this.intervals[0] * this.intervalFactor * 1000) / 1000;
  }

  value(v, now) {
    const r = this.rng;
    switch (v.kind) {
      case "random": {
        const ok = v.min !== undefined && v.max !== undefined && v.max > v.min;
        return ok ? Math.floor(v.min + r() * (v.max - v.min)) : Math.floor(r() * 2147483647);
      }
      case "randomDouble": {
        const ok = v.min !== undefined && v.max !== undefined && v.max > v.min;
        return roundTo(ok ? v.min + r() * (v.max - v.min) : r(), v.decimals);
      }
      case "values":
        return v.pick === "index" ? v.values[this.index % v.values.length] : v.values[Math.floor(r() * v.values.length)];
      case "customLengthString":
        return randomString(r, v.customLengthString);
      case "value":
        return v.value;
      case "time":
        return formatTime(v.time, now + (v.offsetSeconds ?? 0) * 1000);
      case "fn":
        return v.fn(this.ctx);
      case "walk": {
        const prev = this.prev[v.name];
        const start = v.start ?? (v.min + v.max) / 2;
        const step = v.step ?? (v.max - v.min) / 100;
        const x = prev === undefined ? start : prev + (r() * 2 - 1) * step;
        return Math.min(v.max, Math.max(v.min, x));
      }
      case "counter": {
        const prev = this.prev[v.name];
        const min = v.min ?? 1;
        const step = v.step ?? 1;
        if (prev === undefined) return min;
        return prev > (v.max ?? Number.MAX_SAFE_INTEGER) - step ? min : prev + step;
      }
      default:
        throw new Error(`variable kind ${v.kind}`);
    }
  }

  /** The next message at `now` (ms since the epoch). */
  next(now) {
    this.iteration++;
    const t = this.t;
    const ctx = this.ctx;
    ctx.messageNumber = this.iteration + 1;
    ctx.now = now;
    const vals = Object.create(null);
    for (const b of t.builtins) vals[b] = this.builtin(b, now);
    let sequences = false;
    for (const v of t.vars) {
      if (v.kind === "sequence") sequences = true;
      else if (v.perDevice) vals[v.name] = this.fixedVals[v.name];
      else vals[v.name] = v.kind === "walk" ? roundTo((this.prev[v.name] = this.value(v, now)), v.decimals) : this.value(v, now);
    }
    if (sequences) {
      // As the reference tool: a variable that sequences refer to only advances
      // on the iterations where a sequence used it.
      const referenced = new Set();
      const used = new Set();
      for (const v of t.vars) {
        if (v.kind !== "sequence") continue;
        for (const x of v.values) if (typeof x === "string" && x.startsWith("$.")) referenced.add(x.slice(2));
        const x = v.values[this.iteration % v.values.length];
        if (typeof x === "string" && x.startsWith("$.") && x.slice(2) in vals) {
          vals[v.name] = vals[x.slice(2)];
          used.add(x.slice(2));
        } else {
          vals[v.name] = x;
        }
      }
      for (const name of referenced) {
        if (used.has(name)) continue;
        if (name in this.prev) vals[name] = this.prev[name];
        else if (!BUILTINS.includes(name)) delete vals[name];
      }
    }
    for (const v of t.vars) if (v.kind === "counter" && vals[v.name] !== undefined) this.prev[v.name] = vals[v.name];
    let alt = this.alts[0];
    if (this.alts.length > 1) {
      const x = this.rng();
      alt = this.alts.find((a) => x < a.upTo) || this.alts[this.alts.length - 1];
    }
    const msg = render(alt.msg, vals, ctx, undefined);
    msg.duplicate = t.duplicateEvery !== undefined && this.rng() < 1 / t.duplicateEvery;
    return msg;
  }

  builtin(b, now) {
    switch (b) {
      case "DeviceId":
        return this.deviceId;
      case "DeviceIndex":
        return this.index;
      case "Guid":
        return this.t.opts.seed !== undefined ? uuidFrom(this.rng) : crypto.randomUUID();
      case "Time":
        // Thousands of devices send within the same millisecond: format it once.
        if (now !== isoCache.ms) {
          isoCache.ms = now;
          isoCache.iso = new Date(now).toISOString();
        }
        return isoCache.iso;
      case "LocalTime":
        return formatTime("local", now);
      case "Ticks":
        return formatTime("ticks", now);
      case "Epoch":
        return Math.floor(now / 1000);
      case "EpochMs":
        return now;
      case "MachineName":
        return this.ctx.machineName;
      case "MessageNumber":
        return this.iteration + 1;
      case "IterationNumber":
        return this.iteration;
      case "Shard":
        return this.ctx.shard;
      case "ShardCount":
        return this.ctx.shardCount;
      default:
        throw new Error(b);
    }
  }
}

/**
 * Loads a template file: `.json` (data) or `.js`/`.mjs` (its default export: a
 * spec object or a function `(ctx) => ({ body, properties, … })`).
 * Returns the raw spec (compile it with compileTemplate).
 */
export async function loadTemplateFile(path) {
  const { readFile } = await import("node:fs/promises");
  const { resolve } = await import("node:path");
  const { pathToFileURL } = await import("node:url");
  const abs = resolve(path);
  if (/\.(m?js|cjs)$/.test(abs)) {
    let mod;
    try {
      mod = await import(pathToFileURL(abs).href);
    } catch (e) {
      throw new FleetError("TEMPLATE", `cannot load JS template ${path}: ${e.message}`, { cause: e });
    }
    if (mod.default === undefined) throw new FleetError("TEMPLATE", `${path} has no default export (export default { body: … } or a function)`);
    return mod.default;
  }
  let text;
  try {
    text = await readFile(abs, "utf8");
  } catch (e) {
    throw new FleetError("TEMPLATE", `cannot read template ${path}: ${e.message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FleetError("TEMPLATE", `${path} is not JSON: ${e.message}`, { cause: e });
  }
}

/** One sample message per device of `ids`, for `hubwire fleet template --print`. */
export function preview(template, ids, count = 3, now = Date.now()) {
  const out = [];
  ids.forEach((id, i) => {
    const g = template.forDevice(id, i);
    for (let k = 0; k < count; k++) {
      const m = g.next(now + k * 1000);
      out.push({ deviceId: id, body: typeof m.body === "string" ? m.body : `<${m.body.length} bytes>`, options: m.options, duplicate: m.duplicate });
    }
  });
  return out;
}
