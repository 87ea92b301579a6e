// Regenerates docs/screenshot.png: the dashboard with every device panel busy.
// Not a test (no assertions beyond "it got there"); run by hand:
//   node tests/e2e/readme-screenshot.mjs [out.png]

import path from "node:path";
import { startEmulator, launchBrowser, openDashboard, connectDemo, ROOT } from "./harness.mjs";

const out = process.argv[2] || path.join(ROOT, "docs", "screenshot.png");
const emu = await startEmulator();
const browser = await launchBrowser();
try {
  const d = await openDashboard(browser, emu, { viewport: { width: 1440, height: 1320 } });
  const page = d.page;
  await connectDemo(page);
  for (const k of ["temperature", "humidity", "battery", "custom"]) {
    await page.fill(`#${k}-interval`, k === "custom" ? "3" : "0.5");
    await page.dispatchEvent(`#${k}-interval`, "change");
  }
  await page.click("#start-all");
  await page.fill("#reported-editor", JSON.stringify({ firmware: "1.4.2", location: { lat: 47.64, lon: -122.13 } }));
  await page.click("#reported-send");
  await page.click("#c2d-send");
  await page.click("#desired-send");
  await page.fill("#m-payload", '{ "interval": 0.4 }');
  await page.click("#m-invoke");
  await page.waitForSelector("#m-status.ok");
  await page.waitForTimeout(25000);
  await page.fill("#desired-editor", JSON.stringify({ targetTemperature: 22.5, mode: "comfort" }));
  await page.click("#desired-send");
  await page.waitForTimeout(600);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: out });
  const errors = await d.finish(null);
  if (errors.length) throw new Error(errors.join("\n"));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await emu.stop();
}
