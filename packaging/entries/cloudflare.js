// "hubwire/cloudflare": a `webSocketFactory` for Cloudflare Workers and
// workerd, which open outbound WebSockets with fetch() and an Upgrade header
// rather than `new WebSocket(url)` with subprotocols.
//
//   import { DeviceClient } from "hubwire";
//   import { webSocketFactory } from "hubwire/cloudflare";
//   const client = DeviceClient.fromConnectionString(cs, { webSocketFactory });

function transportError(message, status) {
  const e = new Error(message);
  e.name = "HubwireError";
  e.code = "TRANSPORT";
  // 4xx (other than 408/429) means the request itself is wrong: retrying won't help.
  e.retryable = status === undefined || status >= 500 || status === 408 || status === 429;
  if (status !== undefined) e.status = status;
  return e;
}

/**
 * Opens `url` (ws:// or wss://) with `fetch(…, { headers: { Upgrade: "websocket" } })`,
 * accepts the returned `resp.webSocket` and hands it to hubwire.
 * @param {string} url
 * @param {string[]} [protocols]
 */
export async function webSocketFactory(url, protocols = ["mqtt"]) {
  const httpUrl = url.replace(/^ws/i, "http");
  let resp;
  try {
    resp = await fetch(httpUrl, {
      headers: {
        Upgrade: "websocket",
        "Sec-WebSocket-Protocol": protocols.length > 0 ? protocols.join(", ") : "mqtt",
      },
    });
  } catch (err) {
    throw transportError(`WebSocket upgrade request to ${httpUrl} failed: ${err && err.message ? err.message : err}`);
  }
  const ws = resp.webSocket;
  if (!ws) {
    throw transportError(`server did not accept the WebSocket upgrade (HTTP ${resp.status})`, resp.status);
  }
  ws.accept();
  return new UpgradedWebSocket(ws, resp.headers.get("Sec-WebSocket-Protocol") || "");
}

/**
 * The accepted socket is already open (readyState 1) and never fires "open";
 * this thin view adds the negotiated `protocol` and makes binary messages
 * arrive as ArrayBuffer whatever the compatibility date.
 */
class UpgradedWebSocket {
  #ws;
  #protocol;
  constructor(ws, protocol) {
    this.#ws = ws;
    this.#protocol = protocol;
    this.binaryType = "arraybuffer";
  }
  get readyState() {
    return this.#ws.readyState ?? 1;
  }
  get protocol() {
    return this.#ws.protocol || this.#protocol;
  }
  get url() {
    return this.#ws.url;
  }
  get binaryType() {
    return this.#ws.binaryType ?? "arraybuffer";
  }
  set binaryType(v) {
    try {
      this.#ws.binaryType = v;
    } catch {
      // Older workerd has no binaryType and always delivers ArrayBuffer.
    }
  }
  send(data) {
    this.#ws.send(data);
  }
  close(code, reason) {
    this.#ws.close(code, reason);
  }
  addEventListener(type, listener, options) {
    this.#ws.addEventListener(type, listener, options);
  }
  removeEventListener(type, listener, options) {
    this.#ws.removeEventListener(type, listener, options);
  }
}
