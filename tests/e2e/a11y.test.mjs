// Accessibility of the www/ dashboard in headless Chromium: an axe-core audit
// (the root devDependency, injected into the page) in each state a user meets —
// fresh, connected with sensors and cloud actions, dark scheme, a running fleet,
// token mode with an error — must find no serious or critical violation; every
// control must be reachable with Tab (a radio group is one stop, its other
// options are reached with the arrow keys) and show a focus indicator; and the
// main flows must work with the keyboard alone.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ROOT, eventually, num, withEmulatorAndBrowser, onDashboard } from "./harness.mjs";

const AXE = createRequire(path.join(ROOT, "package.json")).resolve("axe-core/axe.min.js");

let emu, browser;
withEmulatorAndBrowser((e) => ({ emu, browser } = e));

const withDashboard = (name, body, opts) => onDashboard(browser, emu, name, body, opts);

/** Runs axe on the page; returns every violation as `{id, impact, help, targets}`. */
async function audit(page) {
  // Evaluated through DevTools: the emulator's CSP (no inline script) refuses a script tag.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(fs.readFileSync(AXE, "utf8"));
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
  });
}

/** Audits `page` in the state `label`: serious and critical violations fail, the rest are reported. */
async function auditClean(t, page, label) {
  const found = await audit(page);
  for (const v of found) t.diagnostic(`${label}: ${v.impact} ${v.id} (${v.help}) on ${v.targets.join(", ")}`);
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${label}: axe found serious or critical violations`);
}

/** Presses Tab until `selector` has focus (at most `max` presses); fails if it never does. */
async function tabTo(page, selector, max = 120) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`${selector} was not reached with ${max} presses of Tab`);
}

/** Starts Tab navigation from the top of the document. */
async function fromTop(page) {
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  // Focus the document itself so the next Tab goes to its first focusable element.
  await page.focus("body").catch(() => {});
}

/**
 * Every visible, enabled control, and whether a full round of Tab reached it with a focus
 * indicator. Radios count once per group (its checked option).
 */
async function tabRound(page) {
  const total = await page.evaluate(() => {
    const sel = "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])";
    const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
    const all = [...document.querySelectorAll(sel)].filter((e) => visible(e) && !e.disabled && !e.closest("[inert]"));
    const groups = new Set();
    let n = 0;
    for (const e of all) {
      if (e.type === "radio") {
        if (groups.has(e.name) || !e.checked) continue;
        groups.add(e.name);
      }
      e.dataset.a11y = String(n++);
    }
    return n;
  });
  await fromTop(page);
  const reached = new Map();
  for (let i = 0; i < total * 2 + 20 && reached.size < total; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const s = getComputedStyle(e);
      const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
      return { idx: e.dataset.a11y ?? null, ring, what: `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}${e.className ? `.${String(e.className).split(" ")[0]}` : ""}` };
    });
    if (f?.idx != null) reached.set(f.idx, f);
  }
  const missing = await page.evaluate((seen) => {
    return [...document.querySelectorAll("[data-a11y]")]
      .filter((e) => !seen.includes(e.dataset.a11y))
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""} "${(e.getAttribute("aria-label") || e.textContent || e.name || "").trim().slice(0, 30)}"`);
  }, [...reached.keys()]);
  const noRing = [...reached.values()].filter((f) => !f.ring).map((f) => f.what);
  return { total, missing, noRing };
}

test("dashboard_axe_no_serious_or_critical_violations_succeeds", async (t) => {
  await withDashboard("a11y-axe", async (page) => {
    await auditClean(t, page, "fresh");
    await page.emulateMedia({ colorScheme: "dark" });
    await auditClean(t, page, "fresh, dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.click("#connect-btn");
    await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
    await page.click("#start-all");
    await eventually(async () => (await num(page, "#acked-count")) >= 2, "two acked sends");
    await page.click("#stop-all");
    await page.click("#twin-refresh");
    await page.click("#c2d-send");
    await page.click("#m-invoke");
    await page.click("#desired-send");
    await page.click("#connect-card summary");
    await eventually(async () => (await num(page, "#c2d-count")) >= 1, "the C2D message");
    await eventually(async () => /200/.test(await page.textContent("#m-status")), "the method answer");
    await auditClean(t, page, "connected, sensors, cloud actions");
    await page.emulateMedia({ colorScheme: "dark" });
    await auditClean(t, page, "connected, dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.fill("#fleet-size", "2");
    await page.click("#fleet-start");
    await eventually(async () => (await num(page, "#fleet-connected")) === 2, "two fleet devices connected");
    await auditClean(t, page, "fleet running");
    await page.click("#fleet-stop");

    await page.click("#disconnect-btn");
    await page.waitForSelector("body[data-conn=disconnected]");
    await page.check("input[name=mode][value=token]");
    await page.click("#connect-btn");
    await eventually(async () => (await page.textContent("#connect-error")).trim().length > 0, "the token-mode error");
    await auditClean(t, page, "token mode, error shown");

    // Provision mode with a group key: the warning shows; an enrollment was just created.
    await page.check("input[name=enr-kind][value=group]");
    await page.click("#enr-create");
    await eventually(async () => /ready/.test(await page.textContent("#enr-result")), "the enrollment group");
    await page.click("#enr-use");
    assert.equal(await page.isVisible("#dps-group-warning"), true);
    await auditClean(t, page, "provision mode, group-key warning");
    await page.emulateMedia({ colorScheme: "dark" });
    await auditClean(t, page, "provision mode, dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.fill("#dps-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    await page.click("#connect-btn");
    await eventually(async () => /UNAUTHORIZED/.test(await page.textContent("#connect-error")), "the provisioning error");
    await auditClean(t, page, "provision mode, error shown");
  });
});

test("dashboard_every_control_reachable_by_tab_with_focus_ring_succeeds", async (t) => {
  await withDashboard("a11y-tab", async (page) => {
    // Connected (every device control enabled) with the events list open.
    await page.click("#connect-btn");
    await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });
    await page.click("#connect-card summary");
    const connected = await tabRound(page);
    t.diagnostic(`connected: ${connected.total} tab stops`);
    assert.ok(connected.total >= 50, `only ${connected.total} controls found`);
    assert.deepEqual(connected.missing, [], "controls Tab never reached");
    assert.deepEqual(connected.noRing, [], "focused controls without a visible focus indicator");

    await page.click("#disconnect-btn");
    await page.waitForSelector("body[data-conn=disconnected]");
    await page.check("input[name=mode][value=token]");
    const token = await tabRound(page);
    assert.deepEqual(token.missing, [], "controls Tab never reached in token mode");
    assert.deepEqual(token.noRing, [], "focused controls without a visible focus indicator in token mode");

    await page.check("input[name=mode][value=dps]");
    await page.check("input[name=dps-kind][value=group]");
    const dps = await tabRound(page);
    assert.deepEqual(dps.missing, [], "controls Tab never reached in provision mode");
    assert.deepEqual(dps.noRing, [], "focused controls without a visible focus indicator in provision mode");
  });
});

test("dashboard_operable_by_keyboard_alone_succeeds", async () => {
  await withDashboard("a11y-keyboard", async (page) => {
    await fromTop(page);
    // The first stop is the skip link; Enter jumps to the main content.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => location.hash), "#main");

    // Credentials radio group: arrow keys switch the mode, and back.
    await fromTop(page);
    await tabTo(page, "input[name=mode]:checked");
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.isVisible("#tok-host"), true, "ArrowDown selects token mode");
    await page.keyboard.press("ArrowUp");
    assert.equal(await page.isVisible("#cs-input"), true, "ArrowUp selects the connection string again");

    // Show/hide the connection string with Space.
    await tabTo(page, "#cs-show");
    await page.keyboard.press(" ");
    assert.equal(await page.getAttribute("#cs-show", "aria-pressed"), "true");
    assert.equal(await page.getAttribute("#cs-input", "type"), "text");
    await page.keyboard.press(" ");
    assert.equal(await page.getAttribute("#cs-input", "type"), "password");

    // Connect with Enter.
    await tabTo(page, "#connect-btn");
    await page.keyboard.press("Enter");
    await page.waitForSelector("body[data-conn=connected]", { timeout: 20000 });

    // The events disclosure opens with Enter.
    await fromTop(page);
    await tabTo(page, "#connect-card summary");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.querySelector("#connect-card details").open), true);

    // A sensor starts and stops with Space; its sends are acked.
    await tabTo(page, "#temperature-toggle");
    await page.keyboard.press(" ");
    assert.equal(await page.getAttribute("#temperature-toggle", "aria-pressed"), "true");
    await eventually(async () => (await num(page, "#acked-count")) >= 1, "an acked temperature send");
    await page.keyboard.press(" ");
    assert.equal(await page.getAttribute("#temperature-toggle", "aria-pressed"), "false");

    // Twin: get it, type a reported patch, send it.
    await tabTo(page, "#twin-refresh");
    await page.keyboard.press("Enter");
    await eventually(async () => /^v\d+/.test(await page.textContent("#twin-reported-version")), "the twin");
    await tabTo(page, "#reported-editor");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type('{ "keyboard": true }');
    await tabTo(page, "#reported-send");
    await page.keyboard.press("Enter");
    await eventually(async () => (await page.textContent("#twin-reported")).includes('"keyboard"'), "the reported patch applied");

    // Cloud side: a C2D message and a method call, each with Enter on its button.
    await tabTo(page, "#c2d-send");
    await page.keyboard.press("Enter");
    await eventually(async () => (await num(page, "#c2d-count")) >= 1, "the C2D message in the inbox");
    await tabTo(page, "#m-invoke");
    await page.keyboard.press("Enter");
    await eventually(async () => /200/.test(await page.textContent("#m-status")), "the method's 200");

    // Fleet: size typed, started and stopped from the keyboard.
    await tabTo(page, "#fleet-size");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("2");
    await tabTo(page, "#fleet-start");
    await page.keyboard.press("Enter");
    await eventually(async () => (await num(page, "#fleet-connected")) === 2, "two fleet devices connected");
    await tabTo(page, "#fleet-stop");
    await page.keyboard.press("Enter");
    await eventually(async () => (await num(page, "#fleet-connected")) === 0, "the fleet stopped");

    // Disconnect with Enter.
    await fromTop(page);
    await tabTo(page, "#disconnect-btn");
    await page.keyboard.press("Enter");
    await page.waitForSelector("body[data-conn=disconnected]", { timeout: 10000 });
  });
});
