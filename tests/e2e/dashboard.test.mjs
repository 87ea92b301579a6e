// The www/ dashboard, clicked through in headless Chromium against the emulator.
// Run: node --test tests/e2e/   (needs pkg/ from `wasm-pack build --target web --release`
// and target/debug/hubwire-emulator, or HUBWIRE_EMULATOR_HTTP pointing at a running one).

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connectDemo, eventually, num, telemetryCursor, ROOT, withEmulatorAndBrowser, onDashboard } from "./harness.mjs";
import { sasToken, parseConnectionString } from "../../www/js/sas.js";

let emu, browser, service;
withEmulatorAndBrowser((e) => ({ emu, browser, service } = e));

const withDashboard = (name, body, opts) => onDashboard(browser, emu, name, body, opts);

const demoId = () => emu.info.demoDevice.deviceId;

test("dashboard_prefill_from_emulator_info_succeeds", async () => {
  await withDashboard("prefill", async (page) => {
    assert.equal(await page.inputValue("#url-input"), emu.info.wsUrl);
    assert.equal(await page.inputValue("#cs-input"), emu.info.demoDevice.connectionString);
    assert.equal(await page.getAttribute("#cs-input", "type"), "password", "the connection string is masked");
    assert.equal(await page.getAttribute("#svc-cs", "type"), "password", "the service connection string is masked");
    assert.equal(await page.isVisible("#cloud"), true);
    assert.equal(await page.isVisible("#fleet"), true);
    assert.equal(await page.getAttribute("#conn-pill", "role"), "status");
    assert.match(await page.textContent("#conn-state-text"), /Disconnected/);
  });
});

test("dashboard_telemetry_acked_charted_and_received_succeeds", async () => {
  await withDashboard("telemetry", async (page) => {
    const cursor = await telemetryCursor(service);
    await connectDemo(page);
    assert.match(await page.textContent("#conn-state-text"), new RegExp(`Connected as ${demoId()}`));
    await page.fill("#temperature-interval", "0.3");
    await page.dispatchEvent("#temperature-interval", "change");
    await page.fill("#humidity-interval", "0.5");
    await page.dispatchEvent("#humidity-interval", "change");
    await page.click("#temperature-toggle");
    await page.click("#humidity-toggle");
    await page.click("#battery-toggle");
    await eventually(async () => (await num(page, "#acked-count")) >= 8, "8 acked sends");
    assert.equal(await num(page, "#error-count"), 0, "no send failed");
    const points = Number(await page.getAttribute("#chart", "data-points"));
    assert.ok(points >= 8, `chart has ${points} points`);
    assert.ok((await page.locator("#chart canvas").count()) >= 1, "uPlot drew a canvas");
    const ackedRows = await page.locator("#send-log tr.ok").count();
    assert.ok(ackedRows >= 8, `${ackedRows} acked rows in the send log`);
    assert.match(await page.textContent("#send-log tr.ok td.result"), /acked \d+ ms/);

    // The emulator received them: through the service API, and in the cloud panel's stream.
    const got = await eventually(async () => {
      const r = await service.telemetry({ after: cursor, deviceId: demoId(), limit: 1000 });
      const mine = r.items.filter((i) => i.properties && i.properties.sensor === "temperature");
      return mine.length >= 3 ? mine : null;
    }, "temperature telemetry at the emulator");
    const last = got[got.length - 1];
    assert.equal(typeof JSON.parse(last.body).temperature, "number");
    assert.equal(last.systemProperties.contentType, "application/json");
    await eventually(async () => (await page.locator(`#tele-body tr[data-device="${demoId()}"]`).count()) >= 3, "rows in Received telemetry");
    assert.match(await page.textContent("#tele-stream-state"), /live/);
    await page.click("#stop-all");
  });
});

test("dashboard_c2d_from_cloud_panel_arrives_with_properties_succeeds", async () => {
  await withDashboard("c2d", async (page) => {
    await connectDemo(page);
    const marker = `e2e-${Date.now()}`;
    await page.fill("#cloud-device", demoId());
    await page.fill("#c2d-body", JSON.stringify({ marker }));
    await page.fill("#c2d-props", `priority=high\nrun=${marker}`);
    await page.fill("#c2d-cid", "corr-42");
    await page.click("#c2d-send");
    await page.waitForSelector("#c2d-result.ok", { timeout: 10000 });
    const item = page.locator("#c2d-list li", { hasText: marker }).first();
    await item.waitFor({ timeout: 10000 });
    const text = await item.textContent();
    assert.match(text, /priority\s*high/);
    assert.match(text, new RegExp(`run\\s*${marker}`));
    assert.match(text, /correlationId\s*corr-42/);
    assert.ok((await num(page, "#c2d-count")) >= 1);
  });
});

test("dashboard_reported_edit_changes_version_succeeds", async () => {
  await withDashboard("twin-reported", async (page) => {
    await connectDemo(page);
    const before = await eventually(async () => {
      const t = await page.textContent("#twin-reported-version");
      return /^v\d+$/.test(t) ? Number(t.slice(1)) : null;
    }, "the twin to load");
    const value = Math.floor(Math.random() * 1e6);
    await page.fill("#reported-editor", JSON.stringify({ e2eValue: value }));
    await page.click("#reported-send");
    await page.waitForSelector("#reported-result.ok", { timeout: 10000 });
    const after = Number((await page.textContent("#twin-reported-version")).slice(1));
    assert.ok(after > before, `reported version went from ${before} to ${after}`);
    assert.match(await page.textContent("#reported-result"), new RegExp(`reported v${after}`));
    assert.match(await page.textContent("#twin-reported"), new RegExp(String(value)));
    const twin = await service.getTwin(demoId());
    assert.equal(twin.properties.reported.e2eValue, value);
    assert.equal(twin.properties.reported.$version, after);

    // Invalid JSON is refused in the page, with the editor marked invalid.
    await page.fill("#reported-editor", "{ not json");
    await page.click("#reported-send");
    assert.equal(await page.getAttribute("#reported-editor", "aria-invalid"), "true");
    assert.match(await page.textContent("#reported-error"), /Invalid JSON/);
  });
});

test("dashboard_desired_patch_from_cloud_panel_arrives_live_succeeds", async () => {
  await withDashboard("twin-desired", async (page) => {
    await connectDemo(page);
    await eventually(async () => /^v\d+$/.test(await page.textContent("#twin-desired-version")), "the twin to load");
    const target = 15 + Math.floor(Math.random() * 1000) / 100;
    await page.fill("#desired-editor", JSON.stringify({ targetTemperature: target, mode: "e2e" }));
    await page.click("#desired-send");
    await page.waitForSelector("#desired-result.ok", { timeout: 10000 });
    const version = Number(/desired v(\d+)/.exec(await page.textContent("#desired-result"))[1]);
    await eventually(async () => (await page.textContent("#twin-desired-version")) === `v${version}`, `desired v${version} in the device panel`);
    assert.match(await page.textContent("#twin-desired"), new RegExp(`"targetTemperature": ${target}`));
    const update = page.locator("#desired-updates li").first();
    assert.match(await update.textContent(), new RegExp(`v${version}.*targetTemperature`));
    assert.ok(await page.locator("#twin-desired-box.flash").count(), "the desired box is highlighted");
  });
});

test("dashboard_set_telemetry_interval_from_cloud_panel_changes_rate_succeeds", async () => {
  await withDashboard("methods", async (page) => {
    await connectDemo(page);
    await page.click("#temperature-toggle");
    // At the default 2 s interval, then a quarter of a second after the method.
    await page.fill("#m-name", "setTelemetryInterval");
    await page.fill("#m-payload", '{ "interval": 0.25 }');
    await page.fill("#m-timeout", "10");
    await page.click("#m-invoke");
    await eventually(async () => /status 200/.test(await page.textContent("#m-status")), "the method's 200");
    assert.equal(JSON.parse(await page.textContent("#m-result")).interval, 0.25);
    assert.equal(await page.inputValue("#temperature-interval"), "0.25");
    assert.equal(await page.inputValue("#humidity-interval"), "0.25");
    assert.equal(await page.textContent("#telemetry-interval"), "0.25 s");
    const logRow = page.locator("#method-log tr").first();
    assert.match(await logRow.textContent(), /setTelemetryInterval.*200/);

    // The sensor really sends faster: count its acks over 3 s.
    const a0 = await num(page, "#acked-count");
    await page.waitForTimeout(3000);
    const a1 = await num(page, "#acked-count");
    assert.ok(a1 - a0 >= 9, `${a1 - a0} acks in 3 s at a 0.25 s interval`);
    const rate = parseFloat(await page.textContent("#temperature-rate"));
    assert.ok(rate > 2.5 && rate < 6, `measured ${rate} msg/s`);

    // A bad payload is answered 400 by the device's handler; an unknown method 501.
    await page.fill("#m-payload", '"fast"');
    await page.click("#m-invoke");
    await eventually(async () => /status 400/.test(await page.textContent("#m-status")), "400 for a bad interval");
    await page.fill("#m-name", "selfDestruct");
    await page.fill("#m-payload", "{}");
    await page.click("#m-invoke");
    await eventually(async () => /status 501/.test(await page.textContent("#m-status")), "501 for an unknown method");
    await page.click("#stop-all");
  });
});

test("dashboard_wrong_key_shows_unauthorized_fails", async () => {
  await withDashboard("wrong-key", async (page) => {
    const cs = emu.info.demoDevice.connectionString.replace(/SharedAccessKey=[^;]+/, "SharedAccessKey=" + Buffer.alloc(32, 7).toString("base64"));
    await page.fill("#cs-input", cs);
    await page.click("#connect-btn");
    await eventually(async () => /UNAUTHORIZED/.test(await page.textContent("#connect-error")), "UNAUTHORIZED in the connect panel", 20000);
    assert.match(await page.textContent("#connect-error"), /check the (device id and )?key/i);
    assert.match(await page.getAttribute("#conn-pill", "class"), /state-disconnected/);
    assert.match(await page.textContent("#conn-state-text"), /UNAUTHORIZED/);
    const shown = await page.textContent("body");
    assert.ok(!shown.includes(Buffer.alloc(32, 7).toString("base64")), "the key is not shown anywhere");
  });
});

test("dashboard_unreachable_url_keeps_retrying_and_disconnect_stops_it_fails", async () => {
  // A loopback port with nothing listening.
  const port = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const url = `ws://127.0.0.1:${port}/$iothub/websocket`;
  await withDashboard(
    "unreachable",
    async (page) => {
      await page.fill("#url-input", url);
      await page.click("#connect-btn");
      await page.waitForSelector("body[data-conn=reconnecting]", { timeout: 10000 });
      await eventually(async () => /Reconnecting in \d+ s \(attempt \d+\)/.test(await page.textContent("#conn-state-text")), "the reconnect countdown");
      assert.match(await page.textContent("#connect-error"), /Not connected yet.*Check the URL override/);
      assert.equal(await page.isDisabled("#connect-btn"), false, "Connect stays usable while retrying");
      await page.click("#disconnect-btn");
      await page.waitForSelector("body[data-conn=disconnected]", { timeout: 5000 });
      const events = await page.textContent("#event-log");
      await page.waitForTimeout(3000);
      assert.equal(await page.textContent("#event-log"), events, "no more attempts after Disconnect");
      assert.match(await page.textContent("#conn-state-text"), /Disconnected \(by you\)/);
    },
    { allowConsole: new RegExp(`WebSocket connection to '${url.replace(/[$.]/g, "\\$&")}' failed`) },
  );
});

test("dashboard_token_provider_mode_connects_succeeds", async () => {
  await withDashboard("token-mode", async (page) => {
    const cs = parseConnectionString(emu.info.demoDevice.connectionString);
    const token = await sasToken({
      resource: `${cs.HostName}/devices/${cs.DeviceId}`,
      keyBase64: cs.SharedAccessKey,
      expiry: Math.floor(Date.now() / 1000) + 600,
    });
    await page.check('input[name="mode"][value="token"]');
    assert.equal(await page.isVisible("#mode-cs"), false);
    assert.equal(await page.inputValue("#tok-host"), cs.HostName);
    await page.fill("#tok-device", cs.DeviceId);
    await page.fill("#tok-token", token);
    assert.equal(await page.getAttribute("#tok-token", "type"), "password");
    await connectDemo(page);
    assert.match(await page.textContent("#conn-state-text"), new RegExp(`Connected as ${cs.DeviceId}`));
    await page.click("#temperature-toggle");
    await eventually(async () => (await num(page, "#acked-count")) >= 1, "an acked send in token mode");
    await page.click("#stop-all");
    assert.ok(!(await page.textContent("body")).includes(token), "the token is not shown anywhere");
  });
});

test("dashboard_connection_drop_shows_reconnecting_then_connected_succeeds", async () => {
  await withDashboard("reconnect", async (page) => {
    await connectDemo(page);
    await page.click("#temperature-toggle");
    await eventually(async () => (await num(page, "#acked-count")) >= 1, "a first ack");
    // The emulator drops the device's connection; the page must say so and recover.
    const drop = await fetch(`${emu.httpUrl}/emulator/faults/${demoId()}`, {
      method: "POST",
      headers: { Authorization: await service.tokens.token(), "Content-Type": "application/json" },
      body: JSON.stringify({ kind: "drop" }),
    });
    assert.equal(drop.status, 204);
    // State and text read in one step: with full-jitter backoff the reconnect can finish
    // within milliseconds, before a second round trip to the page.
    await page.waitForFunction(
      () => document.body.dataset.conn === "reconnecting" && /Reconnecting|Connection lost/.test(document.getElementById("conn-state-text").textContent),
      null,
      { timeout: 10000 },
    );
    await page.waitForSelector("body[data-conn=connected]", { timeout: 30000 });
    const events = await page.textContent("#event-log");
    assert.match(events, /disconnected/);
    assert.match(events, /reconnecting: attempt 1/);
    const acked = await num(page, "#acked-count");
    await eventually(async () => (await num(page, "#acked-count")) > acked, "acks after the reconnect");
    await page.click("#stop-all");
  });
});

test("dashboard_reboot_method_reconnects_and_reports_succeeds", async () => {
  await withDashboard("reboot", async (page) => {
    await connectDemo(page);
    await eventually(async () => /^v\d+$/.test(await page.textContent("#twin-reported-version")), "the twin to load");
    await page.fill("#m-name", "reboot");
    await page.fill("#m-payload", '{ "delaySeconds": 1 }');
    await page.click("#m-invoke");
    await eventually(async () => /status 200/.test(await page.textContent("#m-status")), "the reboot's 200");
    assert.deepEqual(JSON.parse(await page.textContent("#m-result")), { rebooting: true, delaySeconds: 1 });
    await page.waitForSelector("body[data-conn=disconnected]", { timeout: 5000 });
    await page.waitForSelector("body[data-conn=connected]", { timeout: 15000 });
    const twin = await eventually(async () => {
      const t = await service.getTwin(demoId());
      return t.properties.reported.lastReboot ? t : null;
    }, "lastReboot in the reported properties");
    assert.ok(Date.now() - Date.parse(twin.properties.reported.lastReboot) < 60000);
  });
});

test("dashboard_custom_json_payload_arrives_with_noise_and_seq_succeeds", async () => {
  await withDashboard("custom", async (page) => {
    const cursor = await telemetryCursor(service);
    await connectDemo(page);
    const marker = `m${Date.now()}`;
    await page.fill("#custom-json", JSON.stringify({ pressure: 1000, tag: marker, seq: "$seq" }));
    await page.fill("#custom-noise", "2");
    await page.fill("#custom-interval", "0.2");
    await page.dispatchEvent("#custom-interval", "change");
    await page.click("#custom-toggle");
    const items = await eventually(async () => {
      const r = await service.telemetry({ after: cursor, deviceId: demoId(), limit: 1000 });
      const mine = r.items.map((i) => JSON.parse(i.body || "{}")).filter((b) => b.tag === marker);
      return mine.length >= 3 ? mine : null;
    }, "3 custom payloads at the emulator");
    await page.click("#stop-all");
    assert.deepEqual(items.slice(0, 3).map((b) => b.seq), [1, 2, 3]);
    assert.ok(items.some((b) => b.pressure !== 1000), "noise was applied to the number");
    // Invalid JSON stops the sensor with a visible error instead of sending garbage.
    await page.fill("#custom-json", "{ broken");
    await page.click("#custom-toggle");
    await eventually(async () => (await page.getAttribute("#custom-toggle", "aria-pressed")) === "false", "the sensor to stop");
    assert.match(await page.textContent("#custom-error"), /Invalid JSON/);
  });
});

test("dashboard_fleet_of_50_devices_connects_and_sends_succeeds", async () => {
  await withDashboard("fleet", async (page, d) => {
    const fleetCursor = await telemetryCursor(service);
    await page.fill("#fleet-size", "50");
    await page.fill("#fleet-interval", "1");
    await page.fill("#fleet-prefix", "e2e-fleet-");
    await page.fill("#fleet-spread", "20");
    await page.click("#fleet-start");
    await eventually(async () => (await num(page, "#fleet-connected")) === 50, "50 connected devices", 60000, 250);
    await eventually(async () => (await num(page, "#fleet-acked")) >= 150, "150 fleet acks", 30000, 250);
    assert.equal(await num(page, "#fleet-errors"), 0, "no fleet send failed");
    assert.equal(await num(page, "#fleet-disconnected"), 0);
    await eventually(async () => (await num(page, "#fleet-acked-rate")) >= 30, "about 50 acks per second", 10000, 250);
    assert.equal(await page.locator("#fleet-grid li.t-connected").count(), 50);
    // Every device reached the emulator as itself.
    const conn = await service.connectionInfo("e2e-fleet-050");
    assert.equal(conn.connected, true);
    const r = await service.telemetry({ after: fleetCursor, deviceId: "e2e-fleet-001", limit: 100 });
    assert.ok(r.items.length >= 2, `${r.items.length} messages from e2e-fleet-001`);
    // Each device has its own rate within ±20 %, and its own setTelemetryInterval.
    const intervals = await page.$$eval("#fleet-grid li", (lis) => lis.map((li) => Number(/every ([\d.]+) s/.exec(li.getAttribute("aria-label"))[1])));
    assert.ok(intervals.every((x) => x >= 0.8 && x <= 1.2), `intervals within ±20 %: ${intervals}`);
    assert.ok(new Set(intervals).size > 1, "devices got different intervals");
    const res = await service.invokeMethod("e2e-fleet-007", "setTelemetryInterval", { interval: 0.25 }, 10);
    assert.equal(res.status, 200);
    assert.equal(res.payload.interval, 0.25);
    await eventually(async () => /every 0\.25 s/.test(await page.getAttribute("#fleet-grid li:nth-child(7)", "aria-label")), "device 7's new interval on its tile");
    await d.screenshot("fleet-running", { fullPage: true });
    await page.click("#fleet-stop");
    await eventually(async () => /Stopped 50 devices/.test(await page.textContent("#fleet-status")), "the fleet to stop");
    assert.equal(await num(page, "#fleet-connected"), 0);
    await eventually(async () => !(await service.connectionInfo("e2e-fleet-050")).connected, "the emulator to see the device leave");
  });
});

/** Splits a POSIX shell command line (plain words and '…' quoting, as fleetCommand writes it). */
function shellWords(line) {
  const out = [];
  let word = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === "\\") {
      word = (word ?? "") + line[++i];
    } else if (c === " ") {
      if (word !== null) out.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

test("dashboard_fleet_panel_states_browser_cap_and_runs_hubwire_fleet_command_succeeds", async () => {
  await withDashboard("fleet-cli", async (page) => {
    assert.match(await page.textContent("#fleet-cap-text"), /255 WebSockets per browser[\s\S]*at most 250 devices[\s\S]*hubwire fleet/);
    await page.fill("#fleet-size", "5000");
    await page.fill("#fleet-prefix", "e2e-big-");
    await page.fill("#fleet-interval", "2");
    await page.fill("#fleet-spread", "10");
    const big = await page.textContent("#fleet-cli");
    assert.equal(big, `npx hubwire fleet --count 5000 --prefix e2e-big- --pad 4 --interval 2 --interval-spread 10% --url '${emu.info.wsUrl}' --ramp-per-sec 500 --report fleet-report.json`);
    await page.click("#fleet-start");
    await eventually(async () => /more than a tab can hold[\s\S]*hubwire fleet command/.test(await page.textContent("#fleet-status")), "the cap message");
    assert.equal(await page.locator("#fleet-grid li").count(), 0, "nothing started in the tab");
    // The command runs as shown (with a count small enough for a test): same device names as the tab's fleet.
    await page.fill("#fleet-size", "4");
    const words = shellWords(await page.textContent("#fleet-cli"));
    assert.deepEqual(words.slice(0, 3), ["npx", "hubwire", "fleet"]);
    const dir = mkdtempSync(path.join(tmpdir(), "hubwire-e2e-fleet-"));
    const r = spawnSync(process.execPath, [path.join(ROOT, "packaging", "fleet", "cli.js"), ...words.slice(2), "--messages", "1", "--progress", "off"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 60000,
      env: { ...process.env, IOTHUB_CONNECTION_STRING: emu.info.serviceConnectionString },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(readFileSync(path.join(dir, "fleet-report.json"), "utf8"));
    assert.deepEqual([report.devices.first, report.devices.last], ["e2e-big-001", "e2e-big-004"], "the names the tab's fleet gives");
    assert.equal(report.totals.acked, 4);
    await page.click("#fleet-cli-copy");
    await eventually(async () => /Copied|Selected/.test(await page.textContent("#fleet-cli-copied")), "the copy button to answer");
    // With DPS identities the command provisions through the group {prefix}group, its key from $GROUP_KEY.
    await page.check('input[name="fleet-ids"][value="dps"]');
    await page.fill("#fleet-prefix", "e2e-dpscli-");
    const line = await page.textContent("#fleet-cli");
    const { idScope } = emu.info.dps;
    assert.match(line, new RegExp(`--id-scope ${idScope} .* --group-key "\\$GROUP_KEY"$`));
    const group = await service.ensureEnrollmentGroup("e2e-dpscli-group");
    const groupKey = group.attestation.symmetricKey.primaryKey;
    const dpsWords = shellWords(line).map((w) => (w === '"$GROUP_KEY"' ? groupKey : w));
    const { IOTHUB_CONNECTION_STRING, ...env } = process.env;
    const p = spawnSync(process.execPath, [path.join(ROOT, "packaging", "fleet", "cli.js"), ...dpsWords.slice(2), "--messages", "1", "--progress", "off"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 60000,
      env,
    });
    assert.equal(p.status, 0, `${p.stdout}\n${p.stderr}`);
    const dpsReport = JSON.parse(readFileSync(path.join(dir, "fleet-report.json"), "utf8"));
    assert.equal(dpsReport.devices.source, "dps");
    assert.equal(dpsReport.devices.dps.registered, 4);
    assert.equal(dpsReport.totals.acked, 4);
  });
});

test("dashboard_narrow_viewport_has_no_horizontal_scroll_succeeds", async () => {
  await withDashboard(
    "mobile",
    async (page) => {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `page overflows horizontally by ${overflow}px at 390px wide`);
      // Every form control has an accessible name.
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll("input, textarea, button, select")]
          .filter((el) => el.offsetParent !== null || el.closest("[hidden]") === null)
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim() && el.type !== "hidden")
          .map((el) => el.id || el.outerHTML.slice(0, 60)),
      );
      assert.deepEqual(unnamed, []);
    },
    { viewport: { width: 390, height: 844 } },
  );
});
