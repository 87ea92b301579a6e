// The dashboard's WebCrypto SAS (www/js/sas.js) against the shared vectors, which come
// from the official SDKs. The service panel signs every request with it.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./harness.mjs";
import { sasToken, parseConnectionString, serviceTokenProvider, encodeStrict } from "../../www/js/sas.js";

const vectors = JSON.parse(fs.readFileSync(path.join(ROOT, "..", "shared", "vectors", "iothub.json"), "utf8")).sas;

test("sasToken_shared_vectors_succeeds", async () => {
  let checked = 0;
  for (const c of vectors.cases) {
    const resource = c.module_id
      ? `${vectors.host}/devices/${c.device_id}/modules/${c.module_id}`
      : `${vectors.host}/devices/${c.device_id}`;
    const token = await sasToken({ resource, keyBase64: vectors.key_base64, expiry: vectors.expiry, policy: c.key_name });
    if (c.token) assert.equal(token, c.token, c.name);
    if (c.string_to_sign) assert.ok(token.startsWith(`SharedAccessSignature sr=${c.string_to_sign.split("\n")[0]}&`), c.name);
    if (c.signature) assert.ok(token.includes(`&sig=${encodeStrict(c.signature)}&`), c.name);
    checked++;
  }
  assert.ok(checked >= 3, `${checked} vectors checked`);
});

test("parseConnectionString_value_with_equals_succeeds", () => {
  const cs = parseConnectionString("HostName=h;DeviceId=d;SharedAccessKey=abc==");
  assert.deepEqual(cs, { HostName: "h", DeviceId: "d", SharedAccessKey: "abc==" });
});

test("parseConnectionString_garbage_fails", () => {
  assert.throws(() => parseConnectionString(""), /empty/);
  assert.throws(() => parseConnectionString("HostName"), /malformed/);
});

test("serviceTokenProvider_policy_and_expiry_succeeds", async () => {
  const p = serviceTokenProvider(`HostName=${vectors.host};SharedAccessKeyName=iothubowner;SharedAccessKey=${vectors.key_base64}`);
  const token = await p.token();
  const se = Number(/&se=(\d+)/.exec(token)[1]);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(se > now + 3000 && se <= now + 3600, `expiry ${se - now} s from now`);
  assert.match(token, new RegExp(`^SharedAccessSignature sr=${vectors.host}&sig=[^&]+&se=\\d+&skn=iothubowner$`));
  assert.equal(await p.token(), token, "cached until close to expiry");
  const again = await sasToken({ resource: vectors.host, keyBase64: vectors.key_base64, expiry: se, policy: "iothubowner" });
  assert.equal(again, token);
});
