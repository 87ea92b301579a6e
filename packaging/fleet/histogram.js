// A latency histogram that merges exactly: log-linear buckets over
// microseconds (exact below 64 µs, then 32 buckets per power of two: within
// ~3 % of the true value). Workers send theirs to the main thread, shards write
// theirs into the report, and `hubwire fleet merge` adds them up, so p50/p99 of
// a merged run are percentiles of all its samples, not averages of percentiles.

const SUB = 32;
const LINEAR = 2 * SUB;
const MAX_US = 2 ** 32 - 1;

/** Bucket index of a value in whole microseconds. */
export function bucketOf(us) {
  const v = Math.min(MAX_US, Math.max(0, Math.round(us)));
  if (v < LINEAR) return v;
  const e = 32 - Math.clz32(v) - 6;
  return LINEAR + (e - 1) * SUB + (Math.floor(v / 2 ** e) - SUB);
}

/** [low, high] microseconds of a bucket. */
export function bucketRange(idx) {
  if (idx < LINEAR) return [idx, idx];
  const k = idx - LINEAR;
  const e = Math.floor(k / SUB) + 1;
  const m = (k % SUB) + SUB;
  return [m * 2 ** e, (m + 1) * 2 ** e - 1];
}

export class Histogram {
  constructor() {
    this.buckets = new Map();
    this.count = 0;
    this.sumUs = 0;
    this.minUs = Infinity;
    this.maxUs = 0;
  }

  /** Adds one sample in milliseconds. */
  record(ms) {
    const us = ms * 1000;
    const b = bucketOf(us);
    this.buckets.set(b, (this.buckets.get(b) || 0) + 1);
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Adds every sample of `other` (a Histogram or its JSON). */
  merge(other) {
    const h = other instanceof Histogram ? other : Histogram.fromJSON(other);
    for (const [b, n] of h.buckets) this.buckets.set(b, (this.buckets.get(b) || 0) + n);
    this.count += h.count;
    this.sumUs += h.sumUs;
    this.minUs = Math.min(this.minUs, h.minUs);
    this.maxUs = Math.max(this.maxUs, h.maxUs);
    return this;
  }

  /** The q-quantile (0..1) in milliseconds, or null when empty. */
  quantile(q) {
    if (!this.count) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
      seen += this.buckets.get(b);
      if (seen >= rank) {
        const [lo, hi] = bucketRange(b);
        const mid = (lo + hi) / 2;
        return Math.min(this.maxUs, Math.max(this.minUs, mid)) / 1000;
      }
    }
    return this.maxUs / 1000;
  }

  /** p50, p90, p99, max and mean in milliseconds. */
  summary() {
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.count ? this.maxUs / 1000 : null,
      mean: this.count ? this.sumUs / this.count / 1000 : null,
    };
  }

  toJSON() {
    const buckets = {};
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) buckets[b] = this.buckets.get(b);
    return { unit: "us", count: this.count, sumUs: this.sumUs, minUs: this.count ? this.minUs : null, maxUs: this.maxUs, buckets };
  }

  static fromJSON(j) {
    const h = new Histogram();
    if (!j || typeof j !== "object" || typeof j.buckets !== "object") throw new TypeError("not a histogram");
    for (const [b, n] of Object.entries(j.buckets)) {
      const idx = Number(b);
      if (!(Number.isInteger(idx) && idx >= 0 && Number.isInteger(n) && n >= 0)) throw new TypeError(`bad bucket ${b}: ${n}`);
      if (n) h.buckets.set(idx, n);
    }
    h.count = [...h.buckets.values()].reduce((a, b) => a + b, 0);
    h.sumUs = Number(j.sumUs) || 0;
    h.minUs = j.minUs == null ? Infinity : Number(j.minUs);
    h.maxUs = Number(j.maxUs) || 0;
    return h;
  }
}
