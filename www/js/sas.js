// Connection strings and SAS tokens, computed in the page with WebCrypto.
// Used for the service API only: the device side signs inside the wasm client.

/** Percent-encode everything outside RFC 3986 unreserved, upper-case hex, never '+'. */
export function encodeStrict(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Parse `K=V;K=V` (values may contain '='). Throws on an empty or malformed string. */
export function parseConnectionString(cs) {
  const out = {};
  const text = String(cs || "").trim();
  if (!text) throw new Error("connection string is empty");
  for (const part of text.split(";")) {
    if (!part.trim()) continue;
    const i = part.indexOf("=");
    if (i <= 0) throw new Error(`malformed connection string segment "${part.split("=")[0]}"`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes) {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * SharedAccessSignature for `resource` signed with a base64 key, valid until `expiry` (unix seconds).
 * `policy` adds `&skn=` (service policies such as iothubowner).
 */
export async function sasToken({ resource, keyBase64, expiry, policy }) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) throw new Error("WebCrypto is unavailable (the page must be served from a secure context such as http://127.0.0.1)");
  const sr = encodeStrict(resource);
  const key = await subtle.importKey("raw", base64ToBytes(keyBase64), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await subtle.sign("HMAC", key, new TextEncoder().encode(`${sr}\n${expiry}`));
  let token = `SharedAccessSignature sr=${sr}&sig=${encodeStrict(bytesToBase64(mac))}&se=${expiry}`;
  if (policy) token += `&skn=${encodeStrict(policy)}`;
  return token;
}

/** Build a token provider for a service connection string; tokens are cached until 5 minutes before expiry. */
export function serviceTokenProvider(serviceConnectionString, ttlSeconds = 3600) {
  const cs = parseConnectionString(serviceConnectionString);
  if (!cs.HostName || !cs.SharedAccessKey) {
    throw new Error("service connection string needs HostName and SharedAccessKey");
  }
  let cached = null;
  let cachedExpiry = 0;
  return {
    hostName: cs.HostName,
    policy: cs.SharedAccessKeyName || "",
    async token() {
      const now = Math.floor(Date.now() / 1000);
      if (!cached || cachedExpiry - now < 300) {
        cachedExpiry = now + ttlSeconds;
        cached = await sasToken({
          resource: cs.HostName,
          keyBase64: cs.SharedAccessKey,
          expiry: cachedExpiry,
          policy: cs.SharedAccessKeyName,
        });
      }
      return cached;
    },
  };
}
