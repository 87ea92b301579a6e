import type { ClientOptions } from "./index.js";

type Factory = NonNullable<ClientOptions["webSocketFactory"]>;

/** The WebSocket shape hubwire drives (what a `webSocketFactory` returns). */
export type UpgradedWebSocket = Awaited<ReturnType<Factory>>;

/**
 * A `webSocketFactory` for Cloudflare Workers and workerd: opens the socket with
 * `fetch(url.replace(/^ws/, "http"), { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "mqtt" } })`
 * and accepts `resp.webSocket`. Rejects with a `TRANSPORT` error when the server refuses the upgrade.
 */
export declare function webSocketFactory(url: string, protocols?: string[]): Promise<UpgradedWebSocket>;
