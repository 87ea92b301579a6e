// `tsc --noEmit --strict` (TypeScript from the root devDependencies) on
// examples/typescript/usage.ts against the packed package's declarations, with
// bundler and nodenext resolution: every public API used, no `any` leaks, and
// documented misuse rejected (`@ts-expect-error`).
import assert from "node:assert/strict";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { bin, installPackage, repo, runProcess } from "./helpers.mjs";

let app;

before(() => {
  app = installPackage("typescript");
  cpSync(join(repo, "examples", "typescript"), app.dir, { recursive: true });
});

async function tsc(args) {
  const r = await runProcess(bin("tsc"), args, { cwd: app.dir, timeoutMs: 120000 });
  return { ...r, text: `${r.stdout}${r.stderr}` };
}

test("tsc_usage_strict_bundler_succeeds", async () => {
  const r = await tsc(["-p", "tsconfig.json", "--noEmit", "--strict"]);
  assert.equal(r.code, 0, r.text);
});

test("tsc_usage_strict_nodenext_succeeds", async () => {
  const r = await tsc(["-p", "tsconfig.json", "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext"]);
  assert.equal(r.code, 0, r.text);
});

test("tsc_any_leak_check_fails", async () => {
  // The assertions in usage.ts must be able to fail: the same helpers reject `any`.
  writeFileSync(
    join(app.dir, "leak.ts"),
    `import type { JsonValue } from "hubwire";
type IsAny<T> = 0 extends 1 & T ? true : false;
type Expect<T extends true> = T;
type NotAny<T> = IsAny<T> extends true ? false : true;
export type Leak = [Expect<NotAny<any>>, Expect<NotAny<JsonValue>>];
`,
  );
  const r = await tsc(["--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler", "--target", "es2022", "leak.ts"]);
  assert.notEqual(r.code, 0, "tsc accepted Expect<NotAny<any>>");
  assert.match(r.text, /leak\.ts\(5,/);
  assert.doesNotMatch(r.text, /Cannot find module/);
});
