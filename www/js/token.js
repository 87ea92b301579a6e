// Token-provider mode with a token server (examples/token-server): the device key stays
// on the server; the page asks it for each token hubwire needs.

/**
 * A `getToken` for DeviceClient.fromTokenProvider that fetches
 * `GET {url}?deviceId=…&expiry=…` and expects `{ token }` back.
 * Errors carry `code: "UNAUTHORIZED"` so the dashboard explains them like a refused token.
 */
export function tokenServerGetToken(url, deviceId) {
  return async (expirySeconds) => {
    const u = new URL(url, location.href);
    u.searchParams.set("deviceId", deviceId);
    u.searchParams.set("expiry", String(expirySeconds));
    let res;
    try {
      res = await fetch(u, { cache: "no-store" });
    } catch (e) {
      throw Object.assign(new Error(`token server ${u.origin} unreachable: ${e.message}`), { code: "UNAUTHORIZED" });
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok || typeof body.token !== "string") {
      throw Object.assign(new Error(`token server answered ${res.status}: ${body.error || "no token"}`), { code: "UNAUTHORIZED" });
    }
    return body.token;
  };
}
