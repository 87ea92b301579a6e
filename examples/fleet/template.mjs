// A JS template for `hubwire fleet --template examples/fleet/template.mjs`:
// a vibration sensor whose readings drift per device and spike now and then.
// `init` runs once per device; the function runs for every message.
export default {
  interval: 0.5,
  init(ctx) {
    ctx.state.baseline = 0.2 + (ctx.index % 10) / 50; // each device its own baseline
  },
  variables: [{ name: "Spike", fn: (ctx) => (ctx.rng() < 0.02 ? 5 : 0) }],
  body: (ctx, v) => ({
    deviceId: ctx.deviceId,
    rms: Math.round((ctx.state.baseline + ctx.rng() * 0.05 + v.Spike) * 1000) / 1000,
    seq: ctx.messageNumber,
    shard: ctx.shard,
  }),
  properties: (ctx, v) => ({ spike: v.Spike > 0 ? "yes" : "no" }),
};
