// The browser host of the soak device and the hostile-server checks: served by the
// emulator (--static scripts/soak/web --pkg pkg) under its strict Content-Security-Policy,
// driven by the runner with page.evaluate.
import init, * as hubwire from "/pkg/hubwire.js";
import { SoakDevice } from "./device.mjs";
import { hostileCase } from "./hostile.mjs";

const wasm = await init();
let device = null;

window.soak = {
  ready: true,
  memory: () => wasm.memory.buffer.byteLength,
  create(opts) {
    device = new SoakDevice(hubwire, opts);
    return true;
  },
  call(name) {
    const v = device[name]();
    return v instanceof Promise ? v.then(() => null) : v;
  },
  hostile: (opts) => hostileCase(hubwire, () => wasm.memory.buffer.byteLength, opts),
};
