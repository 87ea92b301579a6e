// The short soak of the test command (docs/reliability.md): scripts/soak.mjs with
// >= 2,000 QoS 1 messages through >= 20 faults of every kind, two of them
// `kill -9` + restart of the emulator, once with the client in Node 22 and once in
// headless Chromium. Every check of the soak must pass, with 0 lost.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runSoak, summary } from "../../scripts/soak.mjs";
import { EMULATOR_BIN, PKG } from "./helpers.mjs";

const MESSAGES = Number(process.env.HUBWIRE_SOAK_MESSAGES || 2000);
const FAULTS = Number(process.env.HUBWIRE_SOAK_FAULTS || 22);

for (const runtime of ["node", "chromium"]) {
  test(`soak in ${runtime}: ${MESSAGES} messages, ${FAULTS} faults incl. kill -9 restarts, 0 lost`, async () => {
    const r = await runSoak({ runtime, messages: MESSAGES, faults: FAULTS, restarts: 2, emulator: EMULATOR_BIN, pkg: PKG, quietLog: true });
    console.log(summary(r));
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual(r.secretFindings, [], "no key or token in any log");
    for (const [check, ok] of Object.entries(r.checks)) assert.ok(ok, `${check}: ${JSON.stringify(r, null, 1).slice(0, 3000)}`);
    assert.equal(r.lost, 0);
    assert.equal(r.sent, MESSAGES);
    assert.ok(r.restarts >= 2, `restarts ${r.restarts}`);
    assert.ok(Object.values(r.faults).reduce((a, b) => a + b, 0) >= 20);
    assert.ok(r.c2dSent > 0 && r.patches > 0, "the service side worked during the run");
  });
}
