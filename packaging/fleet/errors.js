// Errors of `hubwire fleet`: real Error objects with a stable `code`, so scripts
// and tests can tell a bad flag from a bad template from a registry refusal.

/** Stable codes (docs/fleet.md lists what each means). */
export const CODES = Object.freeze({
  USAGE: "USAGE", // a flag is unknown, missing its value, or out of range
  TEMPLATE: "TEMPLATE", // the template file cannot be read or is malformed
  HANDLERS: "HANDLERS", // the --methods module cannot be loaded or exports no handler
  IDENTITY: "IDENTITY", // no device identities (bad connection-string file, bad service connection string)
  REGISTRY: "REGISTRY", // the hub's registry refused to create devices
  DPS: "DPS", // DPS refused or failed a registration (its code and message follow)
  REPORT: "REPORT", // a report file to merge is unreadable or not a fleet report
  CLIENT: "CLIENT", // the hubwire package (DeviceClient) cannot be loaded
});

export class FleetError extends Error {
  /**
   * @param {keyof typeof CODES} code
   * @param {string} message
   * @param {{ cause?: unknown, detail?: unknown }} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "FleetError";
    this.code = code;
    if (extra.detail !== undefined) this.detail = extra.detail;
  }
}

/** Throws a FleetError with `code` unless `cond` holds. */
export function check(cond, code, message) {
  if (!cond) throw new FleetError(code, typeof message === "function" ? message() : message);
}
