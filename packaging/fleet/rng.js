// Seeded pseudo-random numbers for templates: with `--seed`, every device's
// values are reproducible (tests, comparing runs); without it each run differs.

/** 32-bit FNV-1a of a string, then mixed. */
function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A generator of floats in [0, 1) (sfc32) seeded from `seed` (any string).
 * @param {string} seed
 * @returns {() => number}
 */
export function rngFrom(seed) {
  let a = hash32(`a:${seed}`);
  let b = hash32(`b:${seed}`);
  let c = hash32(`c:${seed}`);
  let d = hash32(`d:${seed}`) | 1;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

const HEX = "0123456789abcdef";

/** A version-4 UUID from `rng` (reproducible under a seed). */
export function uuidFrom(rng) {
  let s = "";
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += "-";
    else if (i === 14) s += "4";
    else if (i === 19) s += HEX[8 + Math.floor(rng() * 4)];
    else s += HEX[Math.floor(rng() * 16)];
  }
  return s;
}
