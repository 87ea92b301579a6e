// Where the fleet's device identities come from. Each source turns the
// options and this shard's slice into a list of `{ id, index, connectionString }`:
//
//   registry  --service-connection-string: devices `${prefix}${index}` created
//             through IoT Hub's bulk registry API with keys derived from the
//             service key (or --key-seed), 100 per call. A rerun reuses what
//             exists (DeviceAlreadyExists → the same derived key), so creation
//             is idempotent and an interrupted run resumes where it stopped.
//   file      --connection-strings FILE: one device connection string a line.
//   dps       --id-scope --group-key: DPS group enrollment. Each device of the
//             slice registers as `${prefix}${n}` with its key derived from the group
//             key (HMAC-SHA256, as DPS does), through hubwire/provisioning's
//             DeviceClient.fromProvisioning (connect: false); the fleet then runs it
//             on the hub DPS assigned, with the assigned device id. Registering again
//             is idempotent (DPS reuses the registration), so a rerun works too.

import { readFile } from "node:fs/promises";
import { FleetError } from "./errors.js";
import { deriveKey, fleetRootKey, parseDeviceConnectionString, parseServiceConnectionString } from "./connstr.js";
import { BULK_MAX, registryClient } from "./registry.js";
import { shardSlice } from "./shard.js";
import { loadProvisioning } from "./load-client.js";

/** The device id of range index `i`: prefix + zero-padded number (sim000001, like the reference tool). */
export function deviceId(prefix, i, pad) {
  return `${prefix}${String(i).padStart(pad, "0")}`;
}

/** Runs `fn` over `items` with at most `limit` running at once. */
async function pool(items, limit, fn) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/** Which source the options select (a FleetError when none or several). */
export function sourceOf(o) {
  const chosen = [
    o.serviceConnectionString !== undefined && "registry",
    o.connectionStrings !== undefined && "file",
    (o.idScope !== undefined || o.groupKey !== undefined) && "dps",
  ].filter(Boolean);
  if (chosen.length > 1) throw new FleetError("USAGE", `choose one identity source: --service-connection-string, --connection-strings or --id-scope/--group-key (got ${chosen.join(" and ")})`);
  if (!chosen.length) throw new FleetError("USAGE", "no identities: give --service-connection-string (create devices), --connection-strings FILE (existing devices) or --id-scope/--group-key (DPS)");
  return chosen[0];
}

export const sources = {
  /** Creates (or reuses) `${prefix}${n}` for this shard's slice of [index, index + count). */
  async registry(o, log) {
    const svc = parseServiceConnectionString(o.serviceConnectionString);
    const root = fleetRootKey(svc.key, o.keySeed);
    const { start, end } = shardSlice(o.count, o.shard.index, o.shard.count);
    const devices = [];
    for (let k = start; k < end; k++) {
      const index = o.index + k;
      const id = deviceId(o.prefix, index, o.pad);
      devices.push({ id, index, key: deriveKey(root, id) });
    }
    const reg = registryClient({ hostName: svc.hostName, keyName: svc.keyName, key: svc.key, baseUrl: o.serviceUrl, log });
    const stats = { created: 0, reused: 0, updated: 0, fetched: 0, calls: 0, ms: 0 };
    const t0 = Date.now();
    const batches = [];
    for (let i = 0; i < devices.length; i += BULK_MAX) batches.push(devices.slice(i, i + BULK_MAX));
    let done = 0;
    let lastLog = 0;
    await pool(batches, o.registryConcurrency, async (batch) => {
      const entries = batch.map((d) => ({
        id: d.id,
        importMode: "create",
        status: "enabled",
        authentication: { type: "sas", symmetricKey: { primaryKey: d.key, secondaryKey: deriveKey(d.key, "secondary") } },
      }));
      stats.calls++;
      const r = await reg.bulk(entries);
      const exists = new Set();
      const failed = [];
      for (const e of r.errors) {
        if (e.errorCode === "DeviceAlreadyExists" || e.errorCode === 409001) exists.add(e.deviceId);
        else failed.push(e);
      }
      if (failed.length) {
        const first = failed[0];
        throw new FleetError("REGISTRY", `the hub refused to create ${failed.length} of ${batch.length} devices, e.g. ${first.deviceId}: ${first.errorCode} ${first.errorStatus || ""}`.trim(), { detail: failed });
      }
      stats.created += batch.length - exists.size;
      if (exists.size) {
        const existing = batch.filter((d) => exists.has(d.id));
        if (o.existing === "update") {
          stats.calls++;
          const u = await reg.bulk(existing.map((d) => ({ ...entries.find((e) => e.id === d.id), importMode: "update" })));
          if (!u.ok) throw new FleetError("REGISTRY", `updating ${existing.length} existing devices failed, e.g. ${u.errors[0]?.deviceId}: ${u.errors[0]?.errorCode}`, { detail: u.errors });
          stats.updated += existing.length;
        } else if (o.existing === "fetch") {
          await pool(existing, 8, async (d) => {
            stats.calls++;
            const dev = await reg.get(d.id);
            const key = dev && dev.authentication && dev.authentication.symmetricKey && dev.authentication.symmetricKey.primaryKey;
            if (!key) throw new FleetError("REGISTRY", `${d.id} exists but has no symmetric key (an X.509 device?)`);
            d.key = key;
            stats.fetched++;
          });
        } else {
          stats.reused += existing.length;
        }
      }
      done += batch.length;
      if (Date.now() - lastLog > 1000 || done === devices.length) {
        lastLog = Date.now();
        log?.(`registry: ${done.toLocaleString("en-US")}/${devices.length.toLocaleString("en-US")} devices (created ${stats.created}, existing ${stats.reused + stats.updated + stats.fetched})`);
      }
    });
    stats.ms = Date.now() - t0;
    return {
      source: "registry",
      hostName: svc.hostName,
      total: o.count,
      slice: { start, end },
      registry: stats,
      devices: devices.map((d) => ({ id: d.id, index: d.index, connectionString: `HostName=${svc.hostName};DeviceId=${d.id};SharedAccessKey=${d.key}` })),
    };
  },

  /** Existing devices: one connection string a line (blank lines and # comments skipped). */
  async file(o) {
    let text;
    try {
      text = await readFile(o.connectionStrings, "utf8");
    } catch (e) {
      throw new FleetError("IDENTITY", `cannot read --connection-strings ${o.connectionStrings}: ${e.message}`);
    }
    const all = [];
    text.split(/\r?\n/).forEach((line, n) => {
      const cs = line.trim();
      if (!cs || cs.startsWith("#")) return;
      const p = parseDeviceConnectionString(cs, `${o.connectionStrings}:${n + 1}`);
      all.push({ id: p.moduleId ? `${p.deviceId}/${p.moduleId}` : p.deviceId, connectionString: cs, hostName: p.hostName });
    });
    if (!all.length) throw new FleetError("IDENTITY", `${o.connectionStrings} holds no connection string`);
    const seen = new Set();
    for (const d of all) {
      if (seen.has(d.id)) throw new FleetError("IDENTITY", `${o.connectionStrings} names ${d.id} twice (one connection per device: the hub would drop the first)`);
      seen.add(d.id);
    }
    const total = o.countGiven ? Math.min(o.count, all.length) : all.length;
    const { start, end } = shardSlice(total, o.shard.index, o.shard.count);
    return {
      source: "file",
      hostName: all[0].hostName,
      total,
      slice: { start, end },
      devices: all.slice(start, end).map((d, k) => ({ id: d.id, index: start + k, connectionString: d.connectionString })),
    };
  },

  async dps(o, log, client) {
    if (o.idScope === undefined || o.groupKey === undefined) {
      throw new FleetError("USAGE", "DPS needs both --id-scope and --group-key (the enrollment group's primary key)");
    }
    const DeviceClient = await loadProvisioning(client);
    const { start, end } = shardSlice(o.count, o.shard.index, o.shard.count);
    const devices = [];
    for (let k = start; k < end; k++) {
      const index = o.index + k;
      const id = deviceId(o.prefix, index, o.pad);
      devices.push({ id, index, key: deriveKey(o.groupKey, id) });
    }
    const stats = { registered: 0, ms: 0, hubs: {} };
    const t0 = Date.now();
    let lastLog = 0;
    await pool(devices, o.dpsConcurrency, async (d) => {
      let c;
      try {
        c = await DeviceClient.fromProvisioning({
          idScope: o.idScope,
          registrationId: d.id,
          symmetricKey: d.key,
          ...(o.provisioningHost !== undefined ? { provisioningHost: o.provisioningHost } : {}),
          ...(o.url !== undefined ? { url: o.url } : {}),
          ...(o.allowInsecure ? { allowInsecure: true } : {}),
          connect: false,
        });
      } catch (e) {
        const said = e && e.errorCode !== undefined && !String(e.message).includes(String(e.errorCode));
        const dps = said ? ` (DPS ${e.errorCode}${e.errorMessage ? `: ${e.errorMessage}` : ""})` : "";
        throw new FleetError("DPS", `registering ${d.id} failed: ${e && e.code ? `${e.code}: ` : ""}${e && e.message}${dps}`, { cause: e });
      }
      const a = c.provisioning;
      c.close();
      d.hostName = a.assignedHub;
      d.deviceId = a.deviceId;
      stats.hubs[a.assignedHub] = (stats.hubs[a.assignedHub] || 0) + 1;
      stats.registered++;
      if (Date.now() - lastLog > 1000 || stats.registered === devices.length) {
        lastLog = Date.now();
        log?.(`dps: ${stats.registered.toLocaleString("en-US")}/${devices.length.toLocaleString("en-US")} devices registered`);
      }
    });
    stats.ms = Date.now() - t0;
    const hosts = Object.keys(stats.hubs);
    return {
      source: "dps",
      hostName: hosts.length === 1 ? hosts[0] : null,
      total: o.count,
      slice: { start, end },
      dps: stats,
      devices: devices.map((d) => ({ id: d.deviceId, index: d.index, connectionString: `HostName=${d.hostName};DeviceId=${d.deviceId};SharedAccessKey=${d.key}` })),
    };
  },
};

/** Resolves this shard's identities from whichever source the options name. */
export async function resolveIdentities(o, log, client) {
  return sources[sourceOf(o)](o, log, client);
}
