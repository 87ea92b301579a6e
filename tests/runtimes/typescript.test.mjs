// `tsc --noEmit --strict` (TypeScript from the root devDependencies) on
// examples/typescript/usage.ts against the packed package's declarations, with
// bundler and nodenext resolution: every public API used, no `any` leaks, and
// documented misuse rejected (`@ts-expect-error`). Then the same file's
// `tour()` runs for real against the emulator in Node 22 (type stripping),
// Deno and Bun, which run TypeScript as it is.
//
// Lines of usage.ts tagged `KNOWN(<id>)` mark known defects of the generated
// declarations: errors there are reported, not failed; an error anywhere else
// fails. A KNOWN line that compiles cleanly is reported as fixed.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ServiceClient } from "../../examples/shared/service.mjs";
import { bin, emulatorJson, installPackage, repo, runProcess, startEmulator } from "./helpers.mjs";

let app;
let usageLines;
let emu;

after(async () => {
  await emu?.stop();
});

before(() => {
  app = installPackage("typescript");
  cpSync(join(repo, "examples", "typescript"), app.dir, { recursive: true });
  usageLines = readFileSync(join(app.dir, "usage.ts"), "utf8").split("\n");
});

async function tsc(args, cwd = app.dir) {
  const r = await runProcess(bin("tsc"), args, { cwd, timeoutMs: 120000 });
  return { ...r, text: `${r.stdout}${r.stderr}` };
}

/** Splits tsc's output into errors on KNOWN-tagged lines of usage.ts and all other errors. */
function classify(text) {
  const known = new Map();
  const other = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([^\s(]+)\((\d+),(\d+)\): error (TS\d+): (.*)$/);
    if (!m) continue;
    const src = m[1] === "usage.ts" ? usageLines[Number(m[2]) - 1] : "";
    const tag = src.match(/KNOWN\(([\w-]+)\)/);
    if (tag) known.set(tag[1], [...(known.get(tag[1]) || []), `${m[1]}:${m[2]} ${m[4]} ${m[5]}`]);
    else other.push(line);
  }
  return { known, other };
}

function checkUsage(r, t) {
  const { known, other } = classify(r.text);
  assert.deepEqual(other, [], `tsc errors outside KNOWN lines:\n${r.text}`);
  const tags = new Set(usageLines.flatMap((l) => [...l.matchAll(/KNOWN\(([\w-]+)\)/g)].map((m) => m[1])));
  for (const tag of tags) {
    if (known.has(tag)) t.diagnostic(`known defect still present: ${tag}: ${known.get(tag).join("; ")}`);
    else t.diagnostic(`known defect ${tag} no longer reproduces: remove its KNOWN tag from usage.ts`);
  }
  if (known.size === 0) assert.equal(r.code, 0, r.text);
}

test("tsc_usage_strict_bundler_succeeds", async (t) => {
  checkUsage(await tsc(["-p", "tsconfig.json", "--noEmit", "--strict"]), t);
});

test("tsc_usage_strict_nodenext_succeeds", async (t) => {
  checkUsage(await tsc(["-p", "tsconfig.json", "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext"]), t);
});

test("tsc_any_leak_check_fails", async () => {
  // The assertions in usage.ts must be able to fail: the same helpers reject `any`.
  // With a tsconfig of its own: TypeScript 7 refuses command-line files when one is in reach.
  const dir = join(app.dir, "leak");
  mkdirSync(dir, { recursive: true });
  const options = { target: "es2022", module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom"], strict: true, noEmit: true, types: [] };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: options, files: ["leak.ts"] }));
  writeFileSync(
    join(dir, "leak.ts"),
    `import type { JsonValue } from "hubwire";
type IsAny<T> = 0 extends 1 & T ? true : false;
type Expect<T extends true> = T;
type NotAny<T> = IsAny<T> extends true ? false : true;
export type Leak = [Expect<NotAny<any>>, Expect<NotAny<JsonValue>>];
`,
  );
  const r = await tsc(["-p", "tsconfig.json", "--noEmit", "--strict"], dir);
  assert.notEqual(r.code, 0, "tsc accepted Expect<NotAny<any>>");
  const errors = r.text.split("\n").filter((l) => / error TS/.test(l));
  assert.equal(errors.length, 1, r.text);
  assert.match(errors[0], /^leak\.ts\(5,/);
});

// Runs usage.ts's tour() (every API with every option) and prints what it saw.
const TOUR = `const { tour } = await import("./usage.ts");
const env = (k) => (globalThis.Deno ? Deno.env.get(k) : process.env[k]);
console.log(JSON.stringify(await tour(env("TOUR_CS"), env("TOUR_URL"))));
`;

for (const [name, cmd, args] of [
  ["node22", () => bin("node"), ["tour.mjs"]],
  ["deno", () => bin("deno"), ["run", "--allow-env", "--allow-net", "--allow-read", "tour.mjs"]],
  ["bun", () => bin("bun"), ["tour.mjs"]],
]) {
  test(`usage_tour_${name}_succeeds`, async () => {
    emu ??= await startEmulator();
    const service = new ServiceClient(JSON.parse(emulatorJson(emu)));
    const deviceId = `tour-${name}-${Math.random().toString(36).slice(2, 8)}`;
    const { device, connectionString } = await service.createDevice(deviceId);
    // The tour's module identity ("filter") signs with the device's key (its connection string + ModuleId).
    const key = device.authentication.symmetricKey.primaryKey;
    await service.request("PUT", `/devices/${deviceId}/modules/filter`, {
      deviceId,
      moduleId: "filter",
      authentication: { type: "sas", symmetricKey: { primaryKey: key, secondaryKey: key } },
    });
    try {
      writeFileSync(join(app.dir, "tour.mjs"), TOUR);
      const r = await runProcess(cmd(), args, { cwd: app.dir, timeoutMs: 60000, env: { ...process.env, TOUR_CS: connectionString, TOUR_URL: emu.wsUrl } });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const seen = JSON.parse(r.stdout.trim().split("\n").pop());
      assert.equal(seen[0], "disconnected");
      assert.ok(seen.includes("connected"), JSON.stringify(seen));
      assert.ok(seen.some((l) => /^twin 1 1 -> 2$/.test(l)), JSON.stringify(seen));

      const items = await service.telemetry(deviceId);
      assert.equal(items.length, 7, JSON.stringify(items));
      assert.equal(items[0].body, "plain text");
      assert.equal(items[1].bodyBase64, "AQID", "bytes sent as bytes");
      assert.deepEqual(JSON.parse(items[2].body).nested, { ok: true, none: null });
      const full = items[3].systemProperties;
      assert.deepEqual(
        { messageId: full.messageId, correlationId: full.correlationId, userId: full.userId, component: full.component, contentType: full.contentType, contentEncoding: full.contentEncoding },
        { messageId: "m-1", correlationId: "c-1", userId: "u-1", component: "thermostat1", contentType: "application/json", contentEncoding: "utf-8" },
      );
      assert.ok(Date.parse(full.expiryTimeUtc) > Date.now(), `expiry ${full.expiryTimeUtc}`);
      assert.equal(full.to, "/devices/dev1/messages/events");
      assert.ok(Math.abs(Date.parse(full.creationTimeUtc) - Date.now()) < 60000, `creation time ${full.creationTimeUtc}`);
      // The module's two output events (sent between the device's last message and the twin).
      const outputs = items.filter((i) => i.moduleId === "filter");
      assert.deepEqual(
        outputs.map((i) => [i.systemProperties.outputName, i.systemProperties.creationTimeUtc ?? null]),
        [["output1", "2030-01-01T00:00:00Z"], ["output1", null]],
      );
      assert.deepEqual(items[3].properties, { alert: "high" });
      assert.deepEqual(items[4].properties, { k: "v", k2: "v2" });
      assert.equal(items[4].systemProperties.expiryTimeUtc, "2030-01-01T00:00:00Z");
      const twin = await service.getTwin(deviceId);
      assert.equal(twin.properties.reported.firmware, "1.2.3");
      assert.equal(twin.properties.reported.removed, undefined, "null deletes a reported member");
    } finally {
      await service.deleteDevice(deviceId).catch(() => {});
    }
  });
}
