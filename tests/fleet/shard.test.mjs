// --shard i/n: slices are disjoint, cover the range, and differ by at most one;
// workers split a shard the same way.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseShard, shardSlice, splitEven } from "../../packaging/fleet/shard.js";
import { deviceId } from "../../packaging/fleet/identities.js";

test("shard_slices_disjoint_and_complete_succeeds", () => {
  for (const total of [0, 1, 2, 7, 99, 100, 101, 1000, 10007]) {
    for (const n of [1, 2, 3, 4, 7, 16, 100, 1000]) {
      const owner = new Array(total).fill(-1);
      const sizes = [];
      let prevEnd = 0;
      for (let i = 0; i < n; i++) {
        const { start, end } = shardSlice(total, i, n);
        assert.equal(start, prevEnd, `shard ${i}/${n} of ${total} starts where ${i - 1} ended`);
        prevEnd = end;
        sizes.push(end - start);
        for (let k = start; k < end; k++) {
          assert.equal(owner[k], -1, `device ${k} in shards ${owner[k]} and ${i} (${n} shards of ${total})`);
          owner[k] = i;
        }
      }
      assert.equal(prevEnd, total);
      assert.ok(owner.every((o) => o >= 0), `every one of ${total} devices has a shard (n=${n})`);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.slice(0, 8)} of ${total}/${n}`);
    }
  }
});

test("shard_device_ids_across_shards_are_the_whole_range_succeeds", () => {
  const ids = new Set();
  for (let i = 0; i < 3; i++) {
    const { start, end } = shardSlice(10, i, 3);
    for (let k = start; k < end; k++) ids.add(deviceId("sim", 1 + k, 6));
  }
  assert.deepEqual([...ids], Array.from({ length: 10 }, (_, k) => `sim${String(k + 1).padStart(6, "0")}`));
  assert.equal(deviceId("d-", 42, 0), "d-42");
  assert.equal(deviceId("x", 1234567, 3), "x1234567");
});

test("shard_large_range_is_exact_succeeds", () => {
  const total = 9_007_199_254_740; // i·total overflows 2^53 for large i: BigInt keeps it exact
  assert.deepEqual(shardSlice(total, 999_999, 1_000_000), { start: Number((BigInt(total) * 999_999n) / 1_000_000n), end: total });
  assert.deepEqual(shardSlice(total, 1, 1_000_000), { start: 9_007_199, end: 18_014_398 });
});

test("shard_split_even_for_workers_succeeds", () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const parts = splitEven(items, 3);
  assert.deepEqual(parts, [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]);
  assert.deepEqual(splitEven([1], 2), [[], [1]]);
});

test("shard_parse_succeeds", () => {
  assert.deepEqual(parseShard("0/1"), { index: 0, count: 1 });
  assert.deepEqual(parseShard(" 3 / 8 "), { index: 3, count: 8 });
  assert.deepEqual(parseShard("2 of 4"), { index: 2, count: 4 });
});

test("shard_parse_bad_fails", () => {
  for (const bad of ["", "1", "4/4", "5/4", "-1/4", "1/0", "a/b", "1/2/3", "1.5/4"]) {
    assert.throws(() => parseShard(bad), (e) => e.code === "USAGE", bad);
  }
  assert.throws(() => shardSlice(10, 3, 3), RangeError);
  assert.throws(() => shardSlice(-1, 0, 1), RangeError);
});
