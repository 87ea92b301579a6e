//! Deterministic random inputs (fixed seed, own xorshift) into the framer,
//! the decoder and a connected session: nothing may panic, and the
//! invariants in `mqtt::fuzzing` must hold. (No clock here: the core's
//! files never read one; the test harness reports the duration.)

use super::super::fuzzing::{self, Stats};

/// xorshift64* (Vigna), enough for test inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Valid packets a client receives (and a few it sends), to mutate.
const CORPUS: &[&[u8]] = &[
    &[0x20, 0x02, 0x00, 0x00],
    &[0x20, 0x02, 0x01, 0x05],
    &[0x30, 0x05, 0x00, 0x01, b't', b'h', b'i'],
    &[0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x07, b'h', b'i'],
    &[0x3B, 0x07, 0x00, 0x01, b't', 0x12, 0x34, b'h', b'i'],
    &[0x40, 0x02, 0x00, 0x01],
    &[0x40, 0x02, 0x00, 0x02],
    &[0x90, 0x04, 0x00, 0x01, 0x01, 0x80],
    &[0xB0, 0x02, 0x00, 0x02],
    &[0xD0, 0x00],
    &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x01],
    &[0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'#'],
    &[0xC0, 0x00],
    &[0xE0, 0x00],
    &[0x62, 0x02, 0x00, 0x01],
    &[0x30, 0x80, 0x01, 0x00, 0x01, b't'],
    super::codec::CONNECT_FULL,
];

/// Random bytes, or 1..=3 corpus packets with 0..=3 bytes mutated and
/// possibly truncated.
fn input(rng: &mut XorShift, out: &mut Vec<u8>) {
    out.clear();
    if rng.below(4) == 0 {
        let len = rng.below(25);
        out.extend((0..len).map(|_| rng.byte()));
        return;
    }
    for _ in 0..=rng.below(3) {
        out.extend_from_slice(CORPUS[rng.below(CORPUS.len())]);
    }
    for _ in 0..rng.below(4) {
        let i = rng.below(out.len());
        out[i] = rng.byte();
    }
    if rng.below(4) == 0 {
        out.truncate(rng.below(out.len() + 1));
    }
}

/// A session script: the input cut into "receive n bytes" steps (op byte
/// n < 32) with random other operations in between.
fn script(rng: &mut XorShift, bytes: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(rng.byte());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rng.below(8) == 0 {
            out.push(0x80 | rng.byte() & 0x7f);
        }
        let n = (1 + rng.below(8)).min(rest.len());
        out.push(n as u8);
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
    }
    if rng.below(2) == 0 {
        out.push(0x80 | rng.byte() & 0x7f);
    }
}

const INPUTS: usize = 1_000_000;

#[test]
fn random_inputs_never_panic_succeeds() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut data = Vec::with_capacity(64);
    let mut ops = Vec::with_capacity(128);
    let mut chunked = Vec::with_capacity(64);
    let mut stats = Stats::default();
    let mut count = 0usize;
    for _ in 0..INPUTS {
        input(&mut rng, &mut data);
        chunked.clear();
        chunked.push(rng.byte());
        chunked.extend_from_slice(&data);
        fuzzing::framer(&chunked);
        script(&mut rng, &data, &mut ops);
        stats += fuzzing::session(&ops);
        count += 1;
    }
    println!(
        "random inputs: {count}, each to framer+decoder and to a connected session; {stats:?}"
    );
    assert_eq!(count, INPUTS);
    // The mutated corpus must reach deep states, not only fail at the header.
    assert!(stats.messages > INPUTS / 50, "{stats:?}");
    assert!(stats.acks > INPUTS / 500, "{stats:?}");
    assert!(stats.lost > INPUTS / 10, "{stats:?}");
}
