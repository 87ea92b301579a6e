// Connection strings and SAS tokens on the service side (node:crypto), and the
// device keys the fleet derives so that every shard, on any host, computes the
// same key for the same device with no shared state.

import { createHmac } from "node:crypto";
import { FleetError } from "./errors.js";

/** Parses `k=v;k=v` (values may contain `=`). */
export function parseConnectionString(cs, what = "connection string") {
  if (typeof cs !== "string" || !cs.trim()) throw new FleetError("IDENTITY", `empty ${what}`);
  const out = {};
  for (const part of cs.trim().split(";")) {
    if (!part) continue;
    const i = part.indexOf("=");
    if (i <= 0) throw new FleetError("IDENTITY", `${what}: "${part.slice(0, 40)}" is not key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** A service connection string: `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. */
export function parseServiceConnectionString(cs) {
  const p = parseConnectionString(cs, "service connection string");
  for (const k of ["HostName", "SharedAccessKeyName", "SharedAccessKey"]) {
    if (!p[k]) {
      const hint = p.DeviceId ? " (this is a device connection string; use --connection-strings FILE for existing devices)" : "";
      throw new FleetError("IDENTITY", `service connection string lacks ${k}${hint}`);
    }
  }
  checkKey(p.SharedAccessKey, "service connection string SharedAccessKey");
  return { hostName: p.HostName, keyName: p.SharedAccessKeyName, key: p.SharedAccessKey };
}

/** A device connection string: returns `{ hostName, deviceId, moduleId? }` (keys stay in the string). */
export function parseDeviceConnectionString(cs, where) {
  const p = parseConnectionString(cs, where);
  if (!p.HostName) throw new FleetError("IDENTITY", `${where}: no HostName`);
  if (!p.DeviceId) throw new FleetError("IDENTITY", `${where}: no DeviceId${p.SharedAccessKeyName ? " (a service connection string? use --service-connection-string)" : ""}`);
  if (!p.SharedAccessKey && !p.SharedAccessSignature) throw new FleetError("IDENTITY", `${where}: no SharedAccessKey or SharedAccessSignature`);
  return { hostName: p.HostName, deviceId: p.DeviceId, moduleId: p.ModuleId };
}

function checkKey(key, what) {
  const raw = Buffer.from(key, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || raw.length < 16 || raw.length > 64) {
    throw new FleetError("IDENTITY", `${what} is not base64 of 16 to 64 bytes`);
  }
}

/** `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` for `resource` (a host name or host/devices/id). */
export function sasToken(resource, key, expirySeconds, keyName) {
  const sr = encodeURIComponent(resource);
  const sig = createHmac("sha256", Buffer.from(key, "base64")).update(`${sr}\n${expirySeconds}`).digest("base64");
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expirySeconds}${keyName ? `&skn=${encodeURIComponent(keyName)}` : ""}`;
}

/** base64(HMAC-SHA256(base64-decoded key, text)): DPS's group-key derivation, used for fleet device keys too. */
export function deriveKey(key, text) {
  return createHmac("sha256", Buffer.from(key, "base64")).update(text, "utf8").digest("base64");
}

/**
 * The key from which fleet device keys derive: `--key-seed` if given, else
 * derived from the service policy key (so anyone holding the service
 * connection string gets the same device keys; change `--key-seed` to rotate).
 */
export function fleetRootKey(serviceKey, keySeed) {
  if (keySeed !== undefined) return Buffer.from(String(keySeed), "utf8").toString("base64");
  return deriveKey(serviceKey, "hubwire-fleet/device-keys/v1");
}
