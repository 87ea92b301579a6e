// hubwire entry for browsers, bundlers and the "default" export condition.
// The .wasm is fetched from next to this file: bundlers (Vite, webpack 5,
// Parcel, Rollup with a URL plugin) see `new URL("…", import.meta.url)` and
// emit it as an asset; plain ES modules in a page fetch it directly.
import init from "./wasm/hubwire.js";

await init({ module_or_path: new URL("./wasm/hubwire_bg.wasm", import.meta.url) });

/*HUBWIRE_EXPORTS*/
