#!/usr/bin/env node
// Usage: node scripts/lockfile-fill-platforms.mjs [path/to/package-lock.json ...]
//
// The npm registry this project reaches lacks some packages' per-platform
// binaries for other platforms (e.g. @deno/darwin-arm64). `npm install` then
// leaves them out of package-lock.json, and `npm ci` refuses the lockfile
// ("Missing: @deno/darwin-arm64@ from lock file"). This adds each missing
// optional dependency as an os/cpu-restricted entry, which `npm ci` skips on
// every other platform, so the lockfile is complete again. Run it after
// `npm install` whenever the lockfile changes; it changes nothing when nothing
// is missing.
import { readFileSync, writeFileSync } from "node:fs";

const OS = [
  [/darwin|macos/, "darwin"],
  [/win32|windows/, "win32"],
  [/android/, "android"],
  [/freebsd/, "freebsd"],
  [/linux/, "linux"],
];
const CPU = [
  [/arm64|aarch64/, "arm64"],
  [/x64|x86_64|amd64|-64$|-64-/, "x64"],
  [/ia32|x86/, "ia32"],
];

function platformOf(name) {
  const base = name.split("/").pop();
  const os = OS.find(([re]) => re.test(base))?.[1];
  const cpu = CPU.find(([re]) => re.test(base))?.[1];
  return os && cpu ? { os, cpu } : null;
}

for (const file of process.argv.length > 2 ? process.argv.slice(2) : ["package-lock.json"]) {
  const lock = JSON.parse(readFileSync(file, "utf8"));
  const pkgs = lock.packages;
  let added = 0;
  for (const [path, meta] of Object.entries(pkgs)) {
    for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
      const key = `${path ? `${path}/` : ""}node_modules/${dep}`;
      const hoisted = `node_modules/${dep}`;
      if (pkgs[key] || pkgs[hoisted]) continue;
      const plat = platformOf(dep);
      if (!plat) {
        console.error(`${file}: ${dep} is missing and its platform is unclear; left alone`);
        continue;
      }
      pkgs[hoisted] = {
        version: version.replace(/^[\^~=]/, ""),
        cpu: [plat.cpu],
        dev: meta.dev,
        optional: true,
        os: [plat.os],
      };
      if (pkgs[hoisted].dev === undefined) delete pkgs[hoisted].dev;
      console.error(`${file}: added ${hoisted} (${plat.os}/${plat.cpu})`);
      added++;
    }
  }
  if (added) {
    const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    lock.packages = sorted;
    writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  }
}
