// Types of `hubwire/pnp` (src/pnp.js): IoT Plug and Play conventions over a DeviceClient.
import type { DeviceClient, JsonValue, MethodRequest, MethodResponse } from "./index.js";

/** What a writable-property handler gets besides the value. */
export interface PropertyContext { component?: string; name: string; version: number }
/** A handler's answer: `ac` (default 200), `ad` (a description), `value` (default: the desired value). */
export interface PropertyAck { ac?: number; ad?: string; value?: JsonValue }
export type PropertyHandler = (value: JsonValue, ctx: PropertyContext) => PropertyAck | void | Promise<PropertyAck | void>;
export type CommandHandler = (req: MethodRequest) => MethodResponse | Promise<MethodResponse>;

export interface PnpDevice {
  /** A writable property of `component` (`null`: the default component), or every property of it. */
  onProperty(component: string | null, name: string, handler: PropertyHandler): PnpDevice;
  onProperty(component: string | null, handler: PropertyHandler): PnpDevice;
  /** Commands `{component}*{command}` (`null`: commands without a component); others answer 501. */
  onCommand(component: string | null, handler: CommandHandler): PnpDevice;
  /** Reports read-only properties of `component` (wrapped in `{component: {"__t": "c", …}}`). */
  reportProperties(component: string | null, props: Record<string, JsonValue>): Promise<number>;
  /** Listens for desired patches and acknowledges the desired values not acknowledged yet. */
  start(): Promise<void>;
}

export function pnp(client: DeviceClient): PnpDevice;
