//! Hand-written TypeScript for docs/js-api.md, emitted into the `.d.ts`.
//!
//! The `DeviceClient` class generated from `api.rs` carries only the static
//! constructors; what they return is the client object of client.js, whose
//! instance methods are declared by the `interface DeviceClient` below
//! (TypeScript class/interface declaration merging). `on`/`off` have typed
//! overloads only, so an unknown event name does not compile.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting" | "closed";

/** What hubwire's socket listeners read: `type`, and `data` of a "message" (binary: an `ArrayBuffer` or a view). */
export interface WebSocketLikeEvent {
  readonly type: string;
  readonly data?: unknown;
}
export type WebSocketLikeListener = (ev: WebSocketLikeEvent) => void;

export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: ArrayBuffer): void;   // one MQTT-over-WebSocket binary message
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: WebSocketLikeListener): void;     // "open" | "message" | "close" | "error"
  removeEventListener(type: string, listener: WebSocketLikeListener): void;
}

export interface ClientOptions {
  url?: string;
  allowInsecure?: boolean;
  keepAliveSeconds?: number;       // 0..1177 (IoT Hub's maximum); default 180
  cleanSession?: boolean;
  tokenTtlSeconds?: number;
  tokenRenewalMarginSeconds?: number;   // renew this long before expiry; default tokenTtlSeconds / 4
  will?: WillMessage;               // published by the hub on the telemetry topic if the connection drops uncleanly
  retry?: { minDelayMs?: number; maxDelayMs?: number; jitter?: number };
  offlineQueue?: { maxMessages?: number; maxBytes?: number };
  webSocketFactory?: (url: string, protocols: string[]) => WebSocketLike | Promise<WebSocketLike>;
  modelId?: string;
  productInfo?: string;
  operationTimeoutMs?: number;
  coalesce?: boolean;
  connectTimeoutMs?: number;        // how long connect() keeps trying; default 60000
  ackTimeoutMs?: number;            // a PUBACK/SUBACK later than this ends the connection; default 60000, 0 never
}

/** With a desired-properties update: `full` when `patch` is the whole desired section
 * (found newer after a reconnect: replace your view, do not merge), and its `$version`. */
export interface DesiredUpdateInfo { full: boolean; version: number }

export interface TokenProvider {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  gatewayHostName?: string;
  getToken: (expirySeconds: number) => Promise<string>;
}

export interface MessageOptions {
  properties?: Record<string, string> | [string, string][];
  messageId?: string; correlationId?: string; contentType?: string; contentEncoding?: string;
  userId?: string; expiry?: Date | string; component?: string; qos?: 0 | 1;
  to?: string; creationTime?: Date | string;
}
export interface WillMessage extends MessageOptions { body: string | Uint8Array | JsonValue; }

export interface C2dMessage {
  body: Uint8Array; text(): string; json<T = unknown>(): T;
  messageId?: string; correlationId?: string; to?: string; expiry?: string;
  contentType?: string; contentEncoding?: string; userId?: string;
  inputName?: string;                          // module input messages
  connectionDeviceId?: string; connectionModuleId?: string;   // a routed message's sender
  properties: Record<string, string | null>;
}

export type TwinProperties = { $version: number; [key: string]: JsonValue };
export interface Twin { desired: TwinProperties; reported: TwinProperties; }

export interface MethodRequest { name: string; component?: string; command: string; requestId: string; payload: JsonValue | null; }
export interface MethodResponse { status: number; payload?: JsonValue; }
export type MethodHandler = (req: MethodRequest) => MethodResponse | Promise<MethodResponse>;

export type ErrorCode = "INVALID_CONNECTION_STRING" | "INVALID_ARGUMENT" | "UNAUTHORIZED" | "SERVER_UNAVAILABLE"
  | "PAYLOAD_TOO_LARGE" | "QOS_NOT_SUPPORTED" | "TIMEOUT" | "THROTTLED" | "DISCONNECTED" | "QUEUE_FULL"
  | "PROTOCOL_ERROR" | "SERVER_ERROR" | "BAD_REQUEST" | "NOT_FOUND" | "CLOSED" | "INSECURE_URL" | "TRANSPORT"
  | "INTERNAL";
export interface HubwireError extends Error { code: ErrorCode; status?: number; retryable: boolean; }

export interface DeviceClient {
  /** "disconnected" | "connecting" | "connected" | "reconnecting" | "closed". */
  readonly state: ConnectionState;
  /** Connects, retrying with backoff for up to `connectTimeoutMs` (default 60 s); resolves on the first
   * CONNACK. Rejects when the hub refuses for good (e.g. `UNAUTHORIZED`), or at the deadline with the last
   * failure's code (`TRANSPORT` when the socket never opened) and stops. After a success, reconnecting is unbounded. */
  connect(): Promise<void>;
  /** Sends MQTT DISCONNECT and closes the socket; the client can `connect()` again. A pending `connect()` rejects with `CLOSED`. */
  disconnect(): Promise<void>;
  /** Releases the socket, the timer and every listener; pending Promises reject with `CLOSED`. Unusable afterwards. */
  close(): void;
  /** Sends telemetry. QoS 1 (default) resolves on PUBACK, QoS 0 once written. While reconnecting the message is queued (bounded: `QUEUE_FULL`). */
  sendEvent(body: string | Uint8Array | JsonValue, options?: MessageOptions): Promise<void>;
  /** A module's output event (`$.on`), which IoT Edge routes deliver to module inputs: `sendEvent` with `outputName`. Modules only. */
  sendOutputEvent(outputName: string, body: string | Uint8Array | JsonValue, options?: MessageOptions): Promise<void>;
  /** Calls `cb` with the messages routed to this module's input `inputName` (they reach `message` listeners too). Modules only. */
  onInputMessage(inputName: string, cb: (m: C2dMessage) => void): void;
  /** Fetches the whole twin. */
  getTwin(): Promise<Twin>;
  /** Patches reported properties (`null` deletes); resolves to the new reported `$version`. */
  updateReportedProperties(patch: Record<string, JsonValue>): Promise<number>;
  /** Calls `cb` with every cloud-to-device message. */
  onMessage(cb: (m: C2dMessage) => void): void;
  /** Calls `cb` with every desired-properties patch (it carries `$version`). */
  onDesiredPropertiesUpdate(cb: (patch: TwinProperties, info: DesiredUpdateInfo) => void): void;
  /** A direct-method handler for `name`, or the default handler. Unknown methods answer 501. */
  onMethod(name: string, handler: MethodHandler): void;
  onMethod(handler: MethodHandler): void;
  on(event: "connected", cb: () => void): void;
  on(event: "disconnected", cb: (e: { reason: string; code: ErrorCode; willRetry: boolean }) => void): void;
  on(event: "reconnecting", cb: (e: { attempt: number; delayMs: number }) => void): void;
  on(event: "error", cb: (e: HubwireError) => void): void;
  on(event: "message", cb: (m: C2dMessage) => void): void;
  on(event: "desiredPropertiesUpdate", cb: (patch: TwinProperties, info: DesiredUpdateInfo) => void): void;
  off(event: DeviceClientEvent, cb: (...args: never[]) => void): void;
}
export type DeviceClientEvent = "connected" | "disconnected" | "reconnecting" | "error" | "message" | "desiredPropertiesUpdate";
"#;

#[wasm_bindgen]
extern "C" {
    /// `ClientOptions` (read by client.js; typed for TypeScript only).
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type ClientOptionsArg;
    /// `TokenProvider`.
    #[wasm_bindgen(typescript_type = "TokenProvider")]
    pub type TokenProviderArg;
}
