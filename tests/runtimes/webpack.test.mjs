// examples/webpack-app, with the packed tarball installed, built by webpack 5
// (the root devDependency, through its Node API with the example's own
// webpack.config.mjs), served from loopback and opened in headless Chromium:
// the page connects to the emulator and every message it sends is acked.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import webpack from "webpack";
import { noChromium, pageSendsTelemetry, serveStatic } from "./browser-page.mjs";
import { installPackage, repo, startEmulator } from "./helpers.mjs";

let emu;
let app;
const servers = [];

before(async () => {
  emu = await startEmulator();
  app = installPackage("webpack-app", { from: join(repo, "examples", "webpack-app") });
});

after(async () => {
  await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  await emu?.stop();
});

/** Runs webpack with `config`; resolves its stats, rejects with every error it reports. */
function build(config) {
  return new Promise((resolve, reject) => {
    webpack(config, (err, stats) => {
      if (err) return reject(err);
      if (stats.hasErrors()) return reject(new Error(stats.toString({ all: false, errors: true })));
      resolve(stats);
    });
  });
}

test("webpack5_build_chromium_connect_send_acked_succeeds", async (t) => {
  if (noChromium(t)) return;
  const { default: config } = await import(pathToFileURL(join(app.dir, "webpack.config.mjs")).href);
  const stats = await build(config);
  const warnings = stats.toJson({ all: false, warnings: true }).warnings.map((w) => w.message);
  // Only the size hints of production mode (the wasm is ~220 KiB) are acceptable.
  assert.ok(warnings.every((w) => /exceed|size limit|performance/i.test(w)), `webpack warnings:\n${warnings.join("\n")}`);
  t.diagnostic(`webpack ${webpack.version}: ${stats.toJson({ all: false, assets: true }).assets.map((a) => `${a.name} ${a.size} B`).join(", ")}`);

  const dist = join(app.dir, "dist");
  const files = readdirSync(dist);
  assert.ok(files.some((f) => f.endsWith(".wasm")), `no .wasm asset emitted: ${files}`);
  for (const f of files.filter((a) => a.endsWith(".js"))) {
    const js = readFileSync(join(dist, f), "utf8");
    assert.doesNotMatch(js, /["']node:|require\(["']/, `${f} refers to Node modules`);
  }
  const origin = await serveStatic(servers, app.dir);
  await pageSendsTelemetry(emu, origin, { label: "build", app: "webpack", screenshotDir: app.dir });
});
