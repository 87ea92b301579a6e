//! Hand-written TypeScript for docs/js-api.md, emitted into the `.d.ts`.
//!
//! The `DeviceClient` class itself is generated from `client.rs`; the
//! `interface DeviceClient` below merges typed overloads of `on`/`off`/`onMethod`
//! into it (TypeScript class/interface declaration merging). `on` and `off` are
//! `skip_typescript` in `client.rs`, so no catch-all `(event: string, cb: Function)`
//! signature exists and an unknown event name does not compile.

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
}

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
  onMethod(name: string, handler: MethodHandler): void;
  onMethod(handler: MethodHandler): void;
  on(event: "connected", cb: () => void): void;
  on(event: "disconnected", cb: (e: { reason: string; code: ErrorCode; willRetry: boolean }) => void): void;
  on(event: "reconnecting", cb: (e: { attempt: number; delayMs: number }) => void): void;
  on(event: "error", cb: (e: HubwireError) => void): void;
  on(event: "message", cb: (m: C2dMessage) => void): void;
  on(event: "desiredPropertiesUpdate", cb: (patch: TwinProperties) => void): void;
  off(event: DeviceClientEvent, cb: (...args: never[]) => void): void;
}
export type DeviceClientEvent = "connected" | "disconnected" | "reconnecting" | "error" | "message" | "desiredPropertiesUpdate";
"#;

#[wasm_bindgen]
extern "C" {
    /// `ClientOptions` (read with `Reflect`; typed for TypeScript only).
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type ClientOptionsArg;
    /// `MessageOptions`.
    #[wasm_bindgen(typescript_type = "MessageOptions")]
    pub type MessageOptionsArg;
    /// `TokenProvider`.
    #[wasm_bindgen(typescript_type = "TokenProvider")]
    pub type TokenProviderArg;
    /// `MethodHandler`.
    #[wasm_bindgen(typescript_type = "MethodHandler")]
    pub type MethodHandlerArg;
}
