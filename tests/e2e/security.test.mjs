// The dashboard and the wasm client under the emulator's strict Content-Security-Policy
// (script-src 'self' 'wasm-unsafe-eval', no unsafe-inline, no unsafe-eval), and token-
// provider mode with examples/token-server, whose device key the page never sees.
// Every test here also runs the harness's secret scan (docs/reliability.md).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { openDashboard, connectDemo, eventually, num, ROOT, withEmulatorAndBrowser } from "./harness.mjs";

let emu, browser, service;
withEmulatorAndBrowser((e) => ({ emu, browser, service } = e));

/** Records every CSP violation the page reports, from its first script on. */
function recordViolations() {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
}

test("dashboard_strict_csp_served_and_nothing_violates_it_succeeds", async () => {
  for (const p of ["/", "/js/main.js", "/pkg/hubwire.js", "/pkg/hubwire_bg.wasm"]) {
    const csp = (await fetch(`${emu.httpUrl}${p}`)).headers.get("content-security-policy");
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/, p);
    assert.match(csp, /style-src 'self';/, p);
    assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/, p);
  }
  const d = await openDashboard(browser, emu, { init: recordViolations });
  const { page } = d;
  let errors;
  try {
    // The whole device panel works: connect, telemetry acked, twin, C2D.
    await connectDemo(page);
    await page.click("#temperature-toggle");
    await eventually(async () => (await num(page, "#acked-count")) >= 2, "acked sends under the CSP");
    await page.click("#stop-all");
    await service.sendC2d(emu.info.demoDevice.deviceId, "under csp", { messageId: "csp-1" });
    await eventually(async () => (await page.textContent("#c2d-list")).includes("under csp"), "a C2D message shown");
    assert.deepEqual(await page.evaluate(() => window.__csp), [], "no CSP violation while the dashboard runs");
    // The policy is really enforced: an injected inline script and eval are both refused.
    // (page.evaluate itself runs through DevTools, which CSP does not cover: the probes below
    // make the page compile the code itself.)
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__inlineRan = true";
      document.body.append(s);
      const b = document.createElement("button");
      b.setAttribute("onclick", "window.__handlerRan = true");
      document.body.append(b);
      b.click();
      b.remove();
      setTimeout("window.__stringTimerRan = true", 0);
    });
    await new Promise((r) => setTimeout(r, 200));
    const ran = await page.evaluate(() => [window.__inlineRan, window.__handlerRan, window.__stringTimerRan]);
    assert.deepEqual(ran, [undefined, undefined, undefined], "inline script, inline handler and string eval all refused");
    assert.ok((await page.evaluate(() => window.__csp.length)) >= 3, "the refusals were reported");
  } finally {
    errors = await d.finish("csp");
  }
  const provoked = /(Executing inline script|Executing inline event handler|Evaluating a string as JavaScript) violates the following Content Security Policy/;
  assert.equal(errors.filter((e) => provoked.test(e)).length, 3, "Chromium logged the three refusals");
  assert.deepEqual(errors.filter((e) => !provoked.test(e)), [], "console errors other than the provoked refusals");
});

/** Starts examples/token-server for `cs`; resolves to its /token URL and a stop function. */
async function tokenServer(cs, origin) {
  const child = spawn(process.execPath, [path.join(ROOT, "examples", "token-server", "server.mjs")], {
    env: { ...process.env, HUBWIRE_DEVICE_CONNECTION_STRING: cs, ALLOW_ORIGIN: origin, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  const url = await eventually(() => (/(http:\/\/\S+\/token)/.exec(out) || [])[1], "the token server to listen");
  return { url, output: () => out, stop: () => child.kill() };
}

test("dashboard_token_mode_with_token_server_key_stays_on_server_succeeds", async () => {
  // A device whose key only the token server is given (the demo device's key is in /emulator/info).
  const dev = await service.ensureDevice("token-server-dev");
  const key = dev.authentication.symmetricKey.primaryKey;
  const cs = `HostName=${emu.info.hostName};DeviceId=token-server-dev;SharedAccessKey=${key}`;
  const ts = await tokenServer(cs, new URL(emu.httpUrl).origin);
  const now = Math.floor(Date.now() / 1000);
  try {
    const get = (q) => fetch(`${ts.url}?${q}`);
    assert.equal((await get(`deviceId=other&expiry=${now + 600}`)).status, 403, "one device only");
    assert.equal((await get(`deviceId=token-server-dev&expiry=${now + 86400}`)).status, 400, "ttl capped");
    assert.equal((await get(`deviceId=token-server-dev&expiry=${now - 1}`)).status, 400, "no expired token");
    const ok = await get(`deviceId=token-server-dev&expiry=${now + 600}`);
    assert.equal(ok.headers.get("access-control-allow-origin"), new URL(emu.httpUrl).origin);
    assert.match((await ok.json()).token, /^SharedAccessSignature sr=.+&sig=.+&se=\d+$/);

    const d = await openDashboard(browser, emu);
    const { page } = d;
    const bodies = [];
    page.on("response", async (r) => bodies.push(await r.text().catch(() => "")));
    let errors;
    try {
      await page.check('input[name="mode"][value="token"]');
      await page.fill("#tok-device", "token-server-dev");
      await page.fill("#tok-url", ts.url);
      await page.click("#connect-btn");
      await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
      await page.click("#temperature-toggle");
      await eventually(async () => (await num(page, "#acked-count")) >= 1, "an acked send with a token from the server");
      await page.click("#stop-all");
      const info = await service.connectionInfo("token-server-dev");
      assert.equal(info.connected, true);
      const seen = [...bodies, await page.content(), await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))];
      assert.ok(seen.every((t) => !t.includes(key)), "the device key reached the page");
      assert.ok(bodies.some((b) => b.includes("SharedAccessSignature")), "the page got tokens from the server");
    } finally {
      errors = await d.finish("token-server");
    }
    // The harness flags requests leaving the emulator; the token server is the one expected.
    assert.deepEqual(errors.filter((e) => !e.startsWith(`request outside the emulator: ${ts.url}?`)), []);
    assert.ok(!ts.output().includes(key), "the token server does not log the key");
  } finally {
    ts.stop();
  }
});
