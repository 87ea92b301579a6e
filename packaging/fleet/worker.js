// A worker thread of `hubwire fleet`: its own hubwire wasm instance and a share
// of the devices. It loads the client, the template and the user's method
// handlers, says "ready", starts its devices at its share of --ramp-per-sec on
// "go", posts counter deltas every tick, and on "stop" disconnects every device
// and posts the last delta.

import { hostname } from "node:os";
import { getHeapStatistics } from "node:v8";
import { parentPort, workerData } from "node:worker_threads";
import { SimDevice } from "./device.js";
import { loadClient } from "./load-client.js";
import { Stats } from "./stats.js";
import { compileTemplate, DEFAULT_TEMPLATE, loadTemplateFile } from "./template.js";
import { loadHandlers } from "./handlers.js";
import { nodeWebSocketFactory } from "./ws-node.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What devices share: stats, options, the client class, the handlers. */
export class WorkerFleet {
  constructor(data, DeviceClient, template, handlers) {
    const o = data.options;
    this.DeviceClient = DeviceClient;
    this.handlers = handlers;
    this.stats = new Stats();
    this.maxMessages = o.messages || 0;
    this.reportTwin = o.twin;
    this.shardLabel = `${o.shard.index}/${o.shard.count}`;
    this.clientOptions = {
      ...(o.url ? { url: o.url } : {}),
      ...(o.allowInsecure ? { allowInsecure: true } : {}),
      ...(o.websocket === "node" ? { webSocketFactory: nodeWebSocketFactory() } : {}),
      ...o.clientOptions,
    };
    this.devices = data.devices.map((spec) => new SimDevice(this, spec, template.forDevice(spec.id, spec.index)));
    this.stats.states.pending = this.devices.length;
    this.doneCount = 0;
    this.connectedOnce = 0;
    this.stopping = false;
  }

  deviceDone() {
    this.doneCount++;
    if (this.doneCount === this.devices.length) parentPort.postMessage({ type: "allDone", t: Date.now() });
  }

  /** Starts devices at `ratePerSec` (0: as fast as `maxPending` connects in flight allow). */
  async ramp(ratePerSec, maxPending) {
    const t0 = performance.now();
    let started = 0;
    let pending = 0;
    while (started < this.devices.length && !this.stopping) {
      const due = ratePerSec > 0 ? Math.floor(((performance.now() - t0) / 1000) * ratePerSec) + 1 : Infinity;
      while (started < this.devices.length && started < due && pending < maxPending && !this.stopping) {
        const d = this.devices[started++];
        pending++;
        d.start().finally(() => {
          pending--;
          if (d.everConnected && ++this.connectedOnce === this.devices.length) {
            parentPort.postMessage({ type: "allConnected", t: Date.now() });
          }
        });
      }
      await sleep(ratePerSec > 0 ? Math.min(50, Math.max(1, 1000 / ratePerSec)) : 5);
    }
  }

  /** Disconnects every device (each bounded by `timeoutMs`). */
  async stop(timeoutMs) {
    this.stopping = true;
    await Promise.all(this.devices.map((d) => d.stop(timeoutMs)));
  }
}

async function main() {
  const data = workerData;
  const o = data.options;
  const DeviceClient = await loadClient(data.client);
  const spec = o.template ? await loadTemplateFile(o.template) : DEFAULT_TEMPLATE;
  const template = compileTemplate(spec, {
    seed: o.seed,
    shard: o.shard.index,
    shardCount: o.shard.count,
    machineName: process.env.POD_NAME || process.env.HOSTNAME || hostname(),
    interval: o.interval,
    intervalSpread: o.intervalSpread,
    payloadSize: o.payloadSize,
  });
  const handlers = o.methods ? await loadHandlers(o.methods) : new Map();
  const fleet = new WorkerFleet(data, DeviceClient, template, handlers);
  let ticker = null;
  const heap = () => {
    // This thread's V8 heap and its external memory (Buffers and the hubwire wasm instance's memory).
    const h = getHeapStatistics();
    return { used: h.used_heap_size, total: h.total_heap_size, external: h.external_memory };
  };
  const post = (type) => parentPort.postMessage({ type, worker: data.worker, t: Date.now(), delta: fleet.stats.takeDelta(), heap: heap() });
  parentPort.on("message", async (m) => {
    if (m.type === "go") {
      ticker = setInterval(() => post("stats"), o.tickMs);
      fleet.ramp(m.rampPerSec, o.maxPendingConnects).catch((e) => parentPort.postMessage({ type: "fatal", error: String(e && e.stack) }));
    } else if (m.type === "stop") {
      clearInterval(ticker);
      await fleet.stop(o.stopTimeoutMs);
      post("final");
    }
  });
  parentPort.postMessage({ type: "ready", worker: data.worker, devices: fleet.devices.length, heap: heap() });
}

main().catch((e) => {
  parentPort.postMessage({ type: "fatal", worker: workerData.worker, code: e && e.code, error: e && e.message ? e.message : String(e) });
});
