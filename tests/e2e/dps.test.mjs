// Provisioning from the www/ dashboard in headless Chromium against the emulator's DPS:
// an enrollment created from the cloud panel, the connect panel's "Provision (DPS / IoT
// Central)" mode with a device key and with a group key (the warning shows), a refused
// key, and a fleet that provisions itself through a group enrollment.

import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, num, withEmulatorAndBrowser, onDashboard } from "./harness.mjs";

let emu, browser, service;
withEmulatorAndBrowser((e) => ({ emu, browser, service } = e));

const withDashboard = (name, body, opts) => onDashboard(browser, emu, name, body, opts);

const unique = (name) => `e2e-${name}-${Math.random().toString(36).slice(2, 8)}`;

/** Creates an enrollment from the cloud panel and hands it to Provision mode. */
async function createAndUse(page, kind, id) {
  await page.check(`input[name="enr-kind"][value="${kind}"]`);
  await page.fill("#enr-id", id);
  await page.click("#enr-create");
  await eventually(async () => /ready/.test(await page.textContent("#enr-result")), "the enrollment");
  await page.click("#enr-use");
  assert.equal(await page.isVisible("#mode-dps"), true, "Provision mode is shown");
  assert.equal(await page.inputValue("#dps-scope"), emu.info.dps.idScope);
  assert.equal(await page.getAttribute("#dps-key", "type"), "password", "the key is masked");
}

test("dashboard_provision_individual_enrollment_then_connects_succeeds", async () => {
  await withDashboard("dps-individual", async (page) => {
    const id = unique("dps");
    await createAndUse(page, "individual", id);
    assert.equal(await page.inputValue("#dps-reg"), id);
    assert.equal(await page.isVisible("#dps-group-warning"), false, "no group warning for a device key");
    await page.fill("#dps-model", "dtmi:com:example:Thermostat;1");
    await page.click("#connect-btn");
    await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
    assert.equal(await page.getAttribute("#dps-result", "data-hub"), emu.info.hostName);
    assert.equal(await page.getAttribute("#dps-result", "data-device"), id);
    assert.match(await page.textContent("#dps-result"), new RegExp(`Assigned hub ${emu.info.hostName} · device id ${id}`));
    assert.match(await page.textContent("#conn-state-text"), new RegExp(`Connected as ${id}`));
    await page.click("#temperature-toggle");
    await eventually(async () => (await num(page, "#acked-count")) >= 1, "an acked send as the provisioned device");
    await page.click("#stop-all");
    const r = await service.telemetry({ deviceId: id, limit: 10 });
    assert.ok(r.items.length >= 1, "telemetry arrived as the assigned device");
    const reg = await service.registration(id);
    assert.deepEqual(reg.payload, { modelId: "dtmi:com:example:Thermostat;1" });
    assert.match((await service.connectionInfo(id)).username, /model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1/);
    assert.equal(await page.inputValue("#cloud-device"), id, "the cloud panel targets the provisioned device");
    assert.ok(!(await page.textContent("body")).includes(await page.inputValue("#dps-key")), "the key is not shown anywhere");
  });
});

test("dashboard_provision_group_key_warns_and_derives_in_page_succeeds", async () => {
  await withDashboard("dps-group", async (page) => {
    const group = unique("grp");
    await createAndUse(page, "group", group);
    assert.equal(await page.isVisible("#dps-group-warning"), true, "the group-key warning is visible");
    assert.match(await page.textContent("#dps-group-warning"), /does not belong in a browser/);
    assert.match(await page.textContent("#dps-key-label"), /Group key/);
    const reg = `${group}-device-1`;
    assert.equal(await page.inputValue("#dps-reg"), reg);
    await page.click("#connect-btn");
    await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
    assert.equal(await page.getAttribute("#dps-result", "data-device"), reg);
    const state = await service.registration(reg);
    assert.equal(state.symmetricKey.enrollmentGroupId, group);
    assert.equal(state.status, "assigned");
  });
});

test("dashboard_provision_wrong_key_shows_unauthorized_fails", async () => {
  await withDashboard("dps-wrong-key", async (page) => {
    const id = unique("bad");
    await createAndUse(page, "individual", id);
    await page.fill("#dps-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    await page.click("#connect-btn");
    await eventually(async () => /UNAUTHORIZED/.test(await page.textContent("#connect-error")), "the UNAUTHORIZED error");
    assert.match(await page.textContent("#connect-error"), /check the ID scope, the registration id and the key/);
    assert.match(await page.textContent("#dps-result"), /Provisioning failed: UNAUTHORIZED \(DPS errorCode 401002\)/);
    assert.equal(await page.getAttribute("body", "data-conn"), "disconnected");
    assert.equal(await page.isDisabled("#connect-btn"), false);
  });
});

test("dashboard_fleet_provisioned_through_group_enrollment_succeeds", async () => {
  await withDashboard("dps-fleet", async (page) => {
    const prefix = `${unique("fl")}-`;
    await page.fill("#fleet-size", "6");
    await page.fill("#fleet-interval", "0.5");
    await page.fill("#fleet-prefix", prefix);
    await page.check('input[name="fleet-ids"][value="dps"]');
    await page.click("#fleet-start");
    await eventually(async () => (await num(page, "#fleet-connected")) === 6, "six provisioned devices connected", 60000, 250);
    await eventually(async () => (await num(page, "#fleet-acked")) >= 12, "fleet acks", 20000, 250);
    assert.equal(await num(page, "#fleet-errors"), 0);
    const first = `${prefix}001`;
    const state = await service.registration(first);
    assert.equal(state.symmetricKey.enrollmentGroupId, `${prefix}group`);
    assert.equal(state.deviceId, first);
    assert.equal((await service.connectionInfo(`${prefix}006`)).connected, true);
    await page.click("#fleet-stop");
    await eventually(async () => /Stopped 6 devices/.test(await page.textContent("#fleet-status")), "the fleet to stop");
  });
});
