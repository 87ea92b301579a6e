// hubwire entry for Node 22+ (also Node 20), Deno and Bun: the .wasm is read
// from disk next to this file, so it works from node_modules, Deno's npm
// cache and Bun alike. WebSocket is the runtime's global one (Node 22+, Deno,
// Bun); on Node 20 pass `webSocketFactory` (see docs/runtimes.md).
import { readFile } from "node:fs/promises";
import init from "./wasm/hubwire.js";

await init({ module_or_path: await readFile(new URL("./wasm/hubwire_bg.wasm", import.meta.url)) });

/*HUBWIRE_EXPORTS*/
