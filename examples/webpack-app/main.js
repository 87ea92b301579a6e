// A browser app built by webpack 5 with a three-line config (webpack.config.mjs):
// `import { DeviceClient } from "hubwire"` and go. Telemetry carries
// `properties.app = "webpack"` so the test can tell it from the Vite app's.
import { DeviceClient } from "hubwire";

const $ = (id) => document.getElementById(id);
const log = (line) => ($("log").textContent += `${line}\n`);

async function main() {
  const q = new URLSearchParams(location.search);
  const connectionString = q.get("cs");
  if (!connectionString) {
    $("state").textContent = "no connection string";
    return;
  }
  const count = Number(q.get("n") || 10);
  const client = DeviceClient.fromConnectionString(connectionString, q.get("url") ? { url: q.get("url") } : {});
  client.on("connected", () => log("connected"));
  client.on("disconnected", (e) => log(`disconnected: ${e.code} ${e.reason}`));
  client.on("error", (e) => log(`error ${e.code}: ${e.message}`));

  $("state").textContent = "connecting";
  await client.connect();
  $("state").textContent = client.state;
  for (let i = 0; i < count; i++) {
    // Resolves on the hub's PUBACK.
    await client.sendEvent({ seq: i, from: "webpack-app", userAgent: navigator.userAgent }, { qos: 1, properties: { app: "webpack" } });
    $("sent").textContent = String(i + 1);
  }
  await client.disconnect();
  client.close();
  $("state").textContent = "done";
}

main().catch((e) => {
  $("state").textContent = `failed: ${e.code || ""} ${e.message}`;
  log(e.stack || String(e));
});
