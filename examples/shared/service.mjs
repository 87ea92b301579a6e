// A minimal IoT Hub *service* client (the cloud side) for the emulator's REST API
// (docs/service-api.md): device identities, direct methods, desired properties
// and received telemetry. Web-standard APIs only (fetch, crypto.subtle, atob/btoa),
// so the same file runs in Node 20+, Deno, Bun, workerd and browsers.

const enc = new TextEncoder();

function parseConnectionString(cs) {
  const out = {};
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function base64ToBytes(b64) {
  const s = atob(b64);
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

function bytesToBase64(bytes) {
  let s = "";
  for (const x of bytes) s += String.fromCharCode(x);
  return btoa(s);
}

/** `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` for `resource`, signed with a base64 key. */
export async function sasToken(resource, keyBase64, keyName, ttlSeconds = 3600) {
  const sr = encodeURIComponent(resource);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const key = await crypto.subtle.importKey("raw", base64ToBytes(keyBase64), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`${sr}\n${se}`)));
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(bytesToBase64(sig))}&se=${se}${keyName ? `&skn=${keyName}` : ""}`;
}

/** The service side of the emulator, authenticated with its `serviceConnectionString`. */
export class ServiceClient {
  #httpUrl;
  #cs;
  #token = null;

  /** @param {{ httpUrl: string, serviceConnectionString: string }} emulator */
  constructor(emulator) {
    this.#httpUrl = emulator.httpUrl.replace(/\/$/, "");
    this.#cs = parseConnectionString(emulator.serviceConnectionString);
    this.hostName = this.#cs.HostName;
  }

  async #auth() {
    if (!this.#token) this.#token = await sasToken(this.#cs.HostName, this.#cs.SharedAccessKey, this.#cs.SharedAccessKeyName);
    return this.#token;
  }

  async request(method, path, body, headers = {}) {
    const resp = await fetch(`${this.#httpUrl}${path}`, {
      method,
      headers: {
        Authorization: await this.#auth(),
        ...(body !== undefined && typeof body !== "string" ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    if (!resp.ok) {
      const e = new Error(`${method} ${path} -> HTTP ${resp.status}: ${text}`);
      e.status = resp.status;
      e.body = json;
      throw e;
    }
    return json;
  }

  /** Creates (or replaces) a device identity and returns `{ device, connectionString }`. */
  async createDevice(deviceId) {
    const device = await this.request("PUT", `/devices/${encodeURIComponent(deviceId)}`, { deviceId });
    const key = device.authentication.symmetricKey.primaryKey;
    return { device, connectionString: `HostName=${this.hostName};DeviceId=${deviceId};SharedAccessKey=${key}` };
  }

  deleteDevice(deviceId) {
    return this.request("DELETE", `/devices/${encodeURIComponent(deviceId)}`);
  }

  /** Invokes a direct method; resolves `{ status, payload }` as IoT Hub does. */
  invokeMethod(deviceId, methodName, payload, responseTimeoutInSeconds = 10) {
    return this.request("POST", `/twins/${encodeURIComponent(deviceId)}/methods`, {
      methodName,
      payload,
      responseTimeoutInSeconds,
      connectTimeoutInSeconds: 5,
    });
  }

  /** Sends a cloud-to-device message; `properties` become `iothub-app-*` headers. */
  sendC2d(deviceId, body, { messageId, correlationId, contentType, properties = {} } = {}) {
    const headers = {};
    if (messageId) headers["iothub-messageid"] = messageId;
    if (correlationId) headers["iothub-correlationid"] = correlationId;
    if (contentType) headers["content-type"] = contentType;
    for (const [k, v] of Object.entries(properties)) headers[`iothub-app-${k}`] = v;
    return this.request("POST", `/devices/${encodeURIComponent(deviceId)}/messages/deviceBound`, body, headers);
  }

  getTwin(deviceId) {
    return this.request("GET", `/twins/${encodeURIComponent(deviceId)}`);
  }

  patchDesired(deviceId, desired) {
    return this.request("PATCH", `/twins/${encodeURIComponent(deviceId)}`, { properties: { desired } });
  }

  /** Telemetry the emulator received from `deviceId` (all pages after `after`). */
  async telemetry(deviceId, after = 0) {
    const items = [];
    for (let guard = 0; guard < 100; guard++) {
      const page = await this.request("GET", `/emulator/telemetry?after=${after}&deviceId=${encodeURIComponent(deviceId)}&limit=500`);
      items.push(...page.items);
      if (page.items.length === 0 || page.next === after) break;
      after = page.next;
    }
    return items;
  }

  /** Emulator fault injection (docs/service-api.md), e.g. `{ kind: "drop" }`. */
  fault(deviceId, fault) {
    return this.request("POST", `/emulator/faults/${encodeURIComponent(deviceId)}`, fault);
  }

  connection(deviceId) {
    return this.request("GET", `/emulator/devices/${encodeURIComponent(deviceId)}/connection`);
  }
}
