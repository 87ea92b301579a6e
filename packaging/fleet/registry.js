// IoT Hub's registry REST API, as much as the fleet needs: the bulk registry
// operation (`POST /devices`, at most 100 identities per call) and
// `GET /devices/{id}`. Signed with the service policy's SAS; 429 and 5xx are
// retried with backoff (Retry-After when the hub sends one).

import { FleetError } from "./errors.js";
import { sasToken } from "./connstr.js";

export const API_VERSION = "2021-04-12";
export const BULK_MAX = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {{ hostName: string, keyName: string, key: string, baseUrl?: string,
 *           retries?: number, fetch?: typeof fetch, log?: (s: string) => void }} o
 */
export function registryClient(o) {
  const base = (o.baseUrl || `https://${o.hostName}`).replace(/\/+$/, "");
  const doFetch = o.fetch || globalThis.fetch;
  const retries = o.retries ?? 8;
  let token = null;
  let tokenExpiry = 0;
  const auth = () => {
    const now = Math.floor(Date.now() / 1000);
    if (!token || tokenExpiry - now < 300) {
      tokenExpiry = now + 3600;
      token = sasToken(o.hostName, o.key, tokenExpiry, o.keyName);
    }
    return token;
  };

  async function request(method, path, body) {
    const url = `${base}${path}${path.includes("?") ? "&" : "?"}api-version=${API_VERSION}`;
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await doFetch(url, {
          method,
          headers: { authorization: auth(), "content-type": "application/json; charset=utf-8", accept: "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        if (attempt >= retries) throw new FleetError("REGISTRY", `${method} ${base}${path}: ${e.cause?.message || e.message}`, { cause: e });
        await sleep(backoff(attempt));
        continue;
      }
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        // Not JSON: keep the text for the error message.
      }
      if ((res.status === 429 || res.status >= 500) && attempt < retries) {
        const after = Number(res.headers.get("retry-after"));
        const wait = Number.isFinite(after) && after > 0 ? after * 1000 : backoff(attempt);
        o.log?.(`registry: ${method} ${path.split("?")[0]} answered ${res.status}; retrying in ${Math.round(wait)} ms`);
        await sleep(wait);
        continue;
      }
      return { status: res.status, json, text };
    }
  }

  const failure = (what, r) => {
    const msg = (r.json && (r.json.Message || r.json.message)) || r.text.slice(0, 300);
    const hint = r.status === 401 ? " (check the service connection string: it needs registry write rights, e.g. iothubowner or registryReadWrite)" : "";
    return new FleetError("REGISTRY", `${what}: HTTP ${r.status} ${msg}${hint}`, { detail: { status: r.status, body: r.json ?? r.text } });
  };

  return {
    base,
    /**
     * Runs one bulk registry operation over ≤ 100 ExportImportDevice entries.
     * @returns {Promise<{ ok: boolean, errors: Array<{ deviceId: string, errorCode: string, errorStatus: string }> }>}
     */
    async bulk(entries) {
      if (entries.length > BULK_MAX) throw new RangeError(`${entries.length} entries; at most ${BULK_MAX}`);
      const r = await request("POST", "/devices", entries);
      if ((r.status === 200 || r.status === 400) && r.json && typeof r.json.isSuccessful === "boolean") {
        return { ok: r.json.isSuccessful, errors: Array.isArray(r.json.errors) ? r.json.errors : [] };
      }
      throw failure(`bulk registry operation (${entries.length} devices)`, r);
    },

    /** GET /devices/{id}: the device, or null when it does not exist. */
    async get(deviceId) {
      const r = await request("GET", `/devices/${encodeURIComponent(deviceId)}`);
      if (r.status === 404) return null;
      if (r.status === 200 && r.json) return r.json;
      throw failure(`GET /devices/${deviceId}`, r);
    },
  };
}

/** Full-jitter exponential backoff: uniform in [0, min(30 s, 250 ms · 2^attempt)], at least 50 ms. */
export function backoff(attempt) {
  return Math.max(50, Math.random() * Math.min(30000, 250 * 2 ** attempt));
}
