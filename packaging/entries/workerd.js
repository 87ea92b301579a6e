// hubwire entry for Cloudflare Workers / workerd ("workerd" export condition).
// Workers cannot compile WebAssembly from bytes at run time; wrangler and
// workerd instead turn `import x from "./x.wasm"` into a WebAssembly.Module.
// Outbound WebSockets need `webSocketFactory` from "hubwire/cloudflare".
import wasmModule from "./wasm/hubwire_bg.wasm";
import { initSync } from "./wasm/hubwire.js";

initSync({ module: wasmModule });

/*HUBWIRE_EXPORTS*/
