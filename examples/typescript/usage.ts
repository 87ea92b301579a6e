// Every public API of `hubwire`, type-checked with `tsc --noEmit --strict`
// (tests/runtimes/typescript.test.mjs). The `Expect<…>` lines fail to compile
// when a type is `any` or not what docs/js-api.md promises; the
// `@ts-expect-error` lines fail to compile when misuse is *accepted*.
//
// A line tagged `KNOWN(<id>)` is a known defect of the generated declarations
// (listed in the test's report, see tests/runtimes/typescript.test.mjs); an
// error on any other line fails the test.
import {
  DeviceClient,
  type C2dMessage,
  type ClientOptions,
  type ConnectionState,
  type ErrorCode,
  type HubwireError,
  type JsonValue,
  type MessageOptions,
  type MethodHandler,
  type MethodRequest,
  type MethodResponse,
  type TokenProvider,
  type Twin,
  type TwinProperties,
  type WebSocketLike,
  type WillMessage,
} from "hubwire";
import { webSocketFactory } from "hubwire/cloudflare";

// ---- type-level assertions -------------------------------------------------
type IsAny<T> = 0 extends 1 & T ? true : false;
type IsUnknown<T> = unknown extends T ? (IsAny<T> extends true ? false : true) : false;
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type NotAny<T> = IsAny<T> extends true ? false : true;
/** Neither `any` nor `unknown`: a real type. */
type Precise<T> = IsAny<T> extends true ? false : IsUnknown<T> extends true ? false : true;
/** `any` in a function's parameters or result. */
type FnPrecise<F> = F extends (...args: infer A) => infer R ? (NotAny<A[number]> extends true ? Precise<Awaited<R>> : false) : false;

type Params<K extends keyof DeviceClient> = DeviceClient[K] extends (...args: infer A) => unknown ? A : never;
type Result<K extends keyof DeviceClient> = DeviceClient[K] extends (...args: infer A) => infer R ? R : never;

export type TypeTests = [
  Expect<Equal<ConnectionState, "disconnected" | "connecting" | "connected" | "reconnecting" | "closed">>,
  Expect<Equal<DeviceClient["state"], ConnectionState>>,
  Expect<Equal<ReturnType<typeof DeviceClient.fromConnectionString>, DeviceClient>>,
  Expect<Equal<ReturnType<typeof DeviceClient.fromTokenProvider>, DeviceClient>>,
  Expect<Equal<Result<"connect">, Promise<void>>>,
  Expect<Equal<Result<"disconnect">, Promise<void>>>,
  Expect<Equal<Result<"close">, void>>,
  Expect<Equal<Result<"sendEvent">, Promise<void>>>,
  Expect<Equal<Result<"getTwin">, Promise<Twin>>>,
  Expect<Equal<Result<"updateReportedProperties">, Promise<number>>>,
  Expect<Precise<Params<"sendEvent">[0]>>,
  Expect<Precise<Params<"updateReportedProperties">[0]>>,
  Expect<Precise<Params<"onMessage">[0]>>,
  Expect<FnPrecise<Params<"onMessage">[0]>>,
  Expect<FnPrecise<Params<"onDesiredPropertiesUpdate">[0]>>,
  Expect<Precise<Twin["desired"]>>,
  Expect<Equal<TwinProperties["$version"], number>>,
  Expect<Precise<C2dMessage["body"]>>,
  Expect<Equal<C2dMessage["body"], Uint8Array>>,
  Expect<Equal<ReturnType<C2dMessage["text"]>, string>>,
  Expect<Equal<C2dMessage["properties"], Record<string, string | null>>>,
  Expect<Precise<MethodRequest["payload"]>>,
  Expect<Equal<MethodRequest["name"], string>>,
  Expect<Equal<MethodResponse["status"], number>>,
  Expect<Precise<ErrorCode>>,
  Expect<Equal<HubwireError["code"], ErrorCode>>,
  Expect<Equal<HubwireError["retryable"], boolean>>,
  Expect<Precise<JsonValue>>,
  Expect<Precise<NonNullable<ClientOptions["webSocketFactory"]>>>,
  Expect<FnPrecise<NonNullable<ClientOptions["webSocketFactory"]>>>,
  Expect<FnPrecise<typeof webSocketFactory>>,
  Expect<Equal<MessageOptions["qos"], 0 | 1 | undefined>>,
  Expect<Equal<MessageOptions["creationTime"], Date | string | undefined>>,
  Expect<Equal<Result<"sendOutputEvent">, Promise<void>>>,
  Expect<Equal<Params<"sendOutputEvent">[0], string>>,
  Expect<Equal<Params<"onInputMessage">[0], string>>,
  Expect<FnPrecise<Params<"onInputMessage">[1]>>,
  Expect<Equal<WillMessage["body"], string | Uint8Array | JsonValue>>,
  Expect<Equal<C2dMessage["connectionModuleId"], string | undefined>>,
  Expect<Equal<TokenProvider["getToken"], (expirySeconds: number) => Promise<string>>>,
  Expect<Equal<MethodHandler, (req: MethodRequest) => MethodResponse | Promise<MethodResponse>>>,
  Expect<Equal<WebSocketLike["readyState"], number>>,
  Expect<Precise<Parameters<Parameters<WebSocketLike["addEventListener"]>[1]>[0]>>,
  Expect<Precise<Parameters<Parameters<WebSocketLike["removeEventListener"]>[1]>[0]>>,
];

// ---- every API, used as documented -----------------------------------------
export async function tour(connectionString: string, url: string): Promise<string[]> {
  const seen: string[] = [];
  const options: ClientOptions = {
    url,
    allowInsecure: false,
    keepAliveSeconds: 60,
    cleanSession: false,
    tokenTtlSeconds: 3600,
    retry: { minDelayMs: 500, maxDelayMs: 30000, jitter: 0.5 },
    offlineQueue: { maxMessages: 1000, maxBytes: 1 << 20 },
    webSocketFactory: (u, protocols): WebSocketLike => new WebSocket(u, protocols),
    modelId: "dtmi:com:example:Thermostat;1",
    productInfo: "hubwire-example/1.0",
    operationTimeoutMs: 10000,
    coalesce: true,
    connectTimeoutMs: 60000,
    tokenRenewalMarginSeconds: 600,
    will: { body: { state: "offline" }, properties: { reason: "lost" }, qos: 1 },
  };
  const client = DeviceClient.fromConnectionString(connectionString, options);
  const provider: TokenProvider = {
    hostName: "example.azure-devices.net",
    deviceId: "dev1",
    moduleId: "mod1",
    gatewayHostName: "gateway.local",
    getToken: async (expirySeconds) => `SharedAccessSignature sr=x&sig=y&se=${expirySeconds}`,
  };
  const viaToken = DeviceClient.fromTokenProvider(provider, { webSocketFactory });
  viaToken.close();
  const minimal = DeviceClient.fromConnectionString(connectionString);
  minimal.close();
  DeviceClient.fromConnectionString(connectionString).free(); // wasm-bindgen's explicit release of the Rust object

  const state: ConnectionState = client.state;
  seen.push(state);

  client.on("connected", () => seen.push("connected"));
  const onDisconnected = (e: { reason: string; code: ErrorCode; willRetry: boolean }) => seen.push(`disconnected ${e.code} ${e.reason} ${e.willRetry}`);
  client.on("disconnected", onDisconnected);
  client.on("reconnecting", (e) => {
    const attempt: number = e.attempt;
    const delay: number = e.delayMs;
    seen.push(`reconnecting ${attempt} ${delay}`);
  });
  client.on("error", (e) => {
    const code: ErrorCode = e.code;
    const message: string = e.message;
    const status: number | undefined = e.status;
    seen.push(`${code} ${message} ${status} ${e.retryable} ${e instanceof Error}`);
  });
  client.off("disconnected", onDisconnected);

  client.onMessage((m) => {
    const body: Uint8Array = m.body;
    const text: string = m.text();
    const data = m.json<{ command: string }>();
    const command: string = data.command;
    const props: Record<string, string | null> = m.properties;
    const ids: (string | undefined)[] = [m.messageId, m.correlationId, m.to, m.expiry, m.contentType, m.contentEncoding, m.userId];
    seen.push(`c2d ${body.length} ${text} ${command} ${Object.keys(props)} ${ids}`);
  });

  client.onDesiredPropertiesUpdate((patch) => {
    const version: number = patch.$version;
    const value: JsonValue = patch["interval"];
    seen.push(`desired ${version} ${JSON.stringify(value)}`);
  });

  client.onMethod("reboot", async (req) => {
    const r: MethodRequest = req;
    const component: string | undefined = r.component;
    seen.push(`method ${r.name} ${r.command} ${r.requestId} ${component}`);
    return { status: 200, payload: { rebooting: true, after: r.payload } };
  });
  const fallback: MethodHandler = (req) => ({ status: 404, payload: { unknown: req.name } });
  client.onMethod(fallback);

  await client.connect();

  await client.sendEvent("plain text");
  await client.sendEvent(new Uint8Array([1, 2, 3]), { qos: 0 });
  await client.sendEvent({ temperature: 21.5, tags: ["a", "b"], nested: { ok: true, none: null } });
  const messageOptions: MessageOptions = {
    properties: { alert: "high" },
    messageId: "m-1",
    correlationId: "c-1",
    contentType: "application/json",
    contentEncoding: "utf-8",
    userId: "u-1",
    expiry: new Date(Date.now() + 60000),
    component: "thermostat1",
    qos: 1,
    to: "/devices/dev1/messages/events",
    creationTime: new Date(),
  };
  await client.sendEvent({ t: 1 }, messageOptions);
  await client.sendEvent({ t: 2 }, { properties: [["k", "v"], ["k2", "v2"]], expiry: "2030-01-01T00:00:00Z" });

  // A module identity (ModuleId in the connection string): outputs and inputs.
  const module = DeviceClient.fromConnectionString(`${connectionString};ModuleId=filter`, { url });
  module.onInputMessage("input1", (m) => {
    const from: string | undefined = m.connectionModuleId;
    seen.push(`input ${m.inputName} from ${m.connectionDeviceId}/${from}`);
  });
  await module.connect();
  await module.sendOutputEvent("output1", { t: 3 }, { properties: { unit: "C" }, creationTime: "2030-01-01T00:00:00Z" });
  await module.sendOutputEvent("output1", "plain");
  module.close();

  const twin: Twin = await client.getTwin();
  const desiredVersion: number = twin.desired.$version;
  const reportedVersion: number = twin.reported.$version;
  const newVersion: number = await client.updateReportedProperties({ firmware: "1.2.3", battery: 97, removed: null });
  seen.push(`twin ${desiredVersion} ${reportedVersion} -> ${newVersion}`);

  await client.disconnect();
  client.close();
  return seen;
}

// ---- misuse that must not compile -----------------------------------------
export function misuse(client: DeviceClient): void {
  // @ts-expect-error QoS 2 is not supported by IoT Hub
  void client.sendEvent("x", { qos: 2 });
  // @ts-expect-error state is read-only
  client.state = "connected";
  // @ts-expect-error not a connection state
  const s: "open" = client.state;
  void s;
  // @ts-expect-error a connection string is a string
  DeviceClient.fromConnectionString(42);
  // @ts-expect-error no such event
  client.on("no-such-event", () => {});
  // @ts-expect-error no such event
  client.off("no-such-event", () => {});
  // @ts-expect-error a listener of "error" takes a HubwireError, not a string
  client.on("error", (e: string) => void e);
  // @ts-expect-error a method response needs a numeric status
  client.onMethod("m", () => ({ status: "200" }));
  // @ts-expect-error a method response needs a status
  client.onMethod("m", () => ({ payload: {} }));
  // @ts-expect-error functions are not JSON
  void client.updateReportedProperties({ f: () => 1 });
  // @ts-expect-error an output name is a string
  void client.sendOutputEvent(1, "x");
  // @ts-expect-error a will needs a body
  DeviceClient.fromConnectionString("HostName=h;DeviceId=d;SharedAccessKey=k", { will: { qos: 1 } });
  // @ts-expect-error creationTime is a Date or a string
  void client.sendEvent("x", { creationTime: 5 });
  // @ts-expect-error keepAliveSeconds is a number
  DeviceClient.fromConnectionString("HostName=h;DeviceId=d;SharedAccessKey=k", { keepAliveSeconds: "60" });
  // @ts-expect-error getToken must return a Promise of a string
  DeviceClient.fromTokenProvider({ hostName: "h", deviceId: "d", getToken: () => 1 });
  client.on("error", (e) => {
    // @ts-expect-error not an error code
    if (e.code === "NO_SUCH_CODE") return;
  });
  client.onMessage((m) => {
    // @ts-expect-error the body is bytes, not a string
    const b: string = m.body;
    void b;
  });
}
