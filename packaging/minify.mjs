// The npm package's JavaScript, minified (packaging/build.mjs calls this on the
// assembled package directory): the wasm-bindgen glue and its inline_js snippets
// become one module (esbuild, bundling only the package's own relative imports),
// then every .js file the runtimes load (not the Node-only `hubwire fleet` CLI under
// fleet/, which stays as written) is minified by terser (ES module, class names kept so that
// `DeviceClient.name` and stack traces still read as hubwire's). Both tools are
// root devDependencies pinned in package-lock.json. docs/size.md has the figures.

import { createRequire } from "node:module";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { walkJs } from "./sizes.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(repo, "package.json"));

function tool(name) {
  try {
    return require(name);
  } catch {
    throw new Error(`${name} is not installed: run \`npm ci\` in ${repo} (scripts/setup.sh)`);
  }
}

/** terser's options: ES2020 output (every runtime the package supports), top-level names mangled, class names kept. */
export const TERSER_OPTIONS = {
  module: true,
  ecma: 2020,
  compress: { passes: 2 },
  mangle: true,
  keep_classnames: true,
  format: { comments: false },
};

/**
 * Inlines `wasm/snippets/` into `wasm/hubwire.js` (the glue stays an ES module with the same
 * exports and the same `new URL("hubwire_bg.wasm", import.meta.url)`), removes the snippets
 * directory, then minifies every .js file under `pkgDir` except fleet/. Returns `{ file: [before, after] }` bytes.
 */
export async function minifyPackage(pkgDir) {
  const esbuild = tool("esbuild");
  const { minify } = tool("terser");
  const shipped = () => walkJs(pkgDir).filter((f) => !relative(pkgDir, f).startsWith("fleet/"));
  const before = Object.fromEntries(shipped().map((f) => [relative(pkgDir, f), readFileSync(f).length]));
  for (const sub of ["wasm", "wasm-dps"]) {
    const glue = join(pkgDir, sub, "hubwire.js");
    if (!existsSync(join(pkgDir, sub, "snippets"))) continue;
    const r = await esbuild.build({
      entryPoints: [glue],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2020",
      write: false,
      logLevel: "silent",
      // Only the snippets are inlined; anything else the glue imports would be a bug.
      plugins: [{
        name: "only-snippets",
        setup(b) {
          b.onResolve({ filter: /.*/ }, (a) => {
            if (a.kind === "entry-point" || a.path.startsWith("./snippets/")) return undefined;
            // A snippet may import its sibling (provision.js imports client.js).
            if (a.importer.includes("/snippets/") && a.path.startsWith("./")) return undefined;
            return { errors: [{ text: `the glue imports ${a.path}: only ./snippets/ may be inlined` }] };
          });
        },
      }],
    });
    writeFileSync(glue, r.outputFiles[0].text);
    rmSync(join(pkgDir, sub, "snippets"), { recursive: true, force: true });
  }
  const sizes = {};
  for (const f of shipped()) {
    const src = readFileSync(f, "utf8");
    const out = await minify(src, TERSER_OPTIONS);
    if (!out.code) throw new Error(`terser produced nothing for ${relative(pkgDir, f)}`);
    writeFileSync(f, `${out.code}\n`);
    const rel = relative(pkgDir, f);
    sizes[rel] = [before[rel] ?? null, out.code.length + 1];
  }
  for (const rel of Object.keys(before)) if (!(rel in sizes)) sizes[rel] = [before[rel], 0];
  return sizes;
}
