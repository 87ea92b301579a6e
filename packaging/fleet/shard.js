// `--shard i/n`: which part of the device range this process simulates.
// Shard i of n (0 ≤ i < n, as a Kubernetes indexed Job's JOB_COMPLETION_INDEX)
// gets the contiguous slice [⌊i·count/n⌋, ⌊(i+1)·count/n⌋): the n slices are
// disjoint, cover every device once, and differ in size by at most one.

import { FleetError } from "./errors.js";

/**
 * Parses "i/n" (also "i of n"). `$JOB_COMPLETION_INDEX/…` is expanded by the shell.
 * @returns {{ index: number, count: number }}
 */
export function parseShard(text) {
  const m = /^\s*(\d+)\s*(?:\/|of)\s*(\d+)\s*$/.exec(String(text));
  if (!m) throw new FleetError("USAGE", `--shard ${JSON.stringify(text)}: expected i/n, e.g. 0/4 (shards are numbered 0 to n-1)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!(count >= 1 && count <= 1_000_000)) throw new FleetError("USAGE", `--shard ${text}: n must be 1 to 1000000`);
  if (index >= count) throw new FleetError("USAGE", `--shard ${text}: i must be below n (shards are numbered 0 to ${count - 1})`);
  return { index, count };
}

/**
 * The slice of `total` items that shard `index` of `count` owns: `{ start, end }`
 * (offsets into the range, end exclusive).
 */
export function shardSlice(total, index, count) {
  if (!(Number.isInteger(total) && total >= 0)) throw new RangeError(`total ${total}`);
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`shard ${index}/${count}`);
  }
  // BigInt keeps i·total exact for any range size.
  const at = (i) => Number((BigInt(i) * BigInt(total)) / BigInt(count));
  return { start: at(index), end: at(index + 1) };
}

/**
 * Splits `items` into `parts` contiguous groups whose sizes differ by at most one
 * (how a process spreads its devices over worker threads).
 */
export function splitEven(items, parts) {
  const out = [];
  for (let i = 0; i < parts; i++) {
    const { start, end } = shardSlice(items.length, i, parts);
    out.push(items.slice(start, end));
  }
  return out;
}
