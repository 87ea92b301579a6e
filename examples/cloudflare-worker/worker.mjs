// A Cloudflare Worker (workerd) that runs the shared device script when it is
// fetched and answers with the result as JSON. Outbound WebSockets in Workers go
// through fetch() with an Upgrade header: that is what `webSocketFactory` from
// "hubwire/cloudflare" does.
//
// env.HUBWIRE_EMULATOR: the emulator's ready JSON (a text binding / wrangler var).
import { DeviceClient } from "hubwire";
import { webSocketFactory } from "hubwire/cloudflare";
import { runRoundtrip } from "../shared/roundtrip.mjs";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/roundtrip") return new Response("GET /roundtrip\n", { status: 404 });
    const logs = [];
    try {
      const result = await runRoundtrip({ DeviceClient, webSocketFactory }, JSON.parse(env.HUBWIRE_EMULATOR), {
        runtime: "workerd",
        log: (l) => logs.push(l),
      });
      return Response.json({ ...result, logs });
    } catch (e) {
      return Response.json({ ok: false, runtime: "workerd", error: String(e && e.message ? e.message : e), stack: e && e.stack, logs }, { status: 500 });
    }
  },
};
