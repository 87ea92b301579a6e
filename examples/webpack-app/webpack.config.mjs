// webpack 5 needs nothing hubwire-specific: it sees the package's
// `new URL("./wasm/hubwire_bg.wasm", import.meta.url)` and emits the .wasm as
// an asset, and it supports the package's top-level await. `npx webpack`
// writes dist/; serve this directory (index.html loads dist/main.js).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export default {
  mode: "production",
  context: here,
  entry: "./main.js",
  output: { path: join(here, "dist"), filename: "main.js", clean: true },
};
