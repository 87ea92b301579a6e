//! The deterministic pass over every IoT Hub fuzz entry point (`hub::fuzzing`):
//! each committed seed of `fuzz/seeds/<target>/`, then a fixed number of seeded
//! mutations of them (byte flips, splices, truncations, repeats). The libFuzzer
//! runs of `./scripts/test.sh fuzz` explore further; this part is the same on
//! every run and needs no nightly toolchain.

use std::path::PathBuf;

use crate::hub::fuzzing::{MAX_INPUT, TARGETS};
use crate::hub::retry::Rng;

/// Mutations per target on top of its seeds.
const MUTATIONS: usize = 20_000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the seed corpus is committed in fuzz/seeds)",
                dir.display()
            )
        })
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("seed"))
        .collect()
}

/// Tokens the parsers care about, spliced in by the mutator.
const DICT: &[&[u8]] = &[
    b"%",
    b"%2",
    b"%24",
    b"%zz",
    b"%FF",
    b"&",
    b"=",
    b"?",
    b"/",
    b"$rid=",
    b"$version=",
    b"$.mid=",
    b"*",
    b"\"",
    b"\\",
    b"\\u",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b";",
    b"SharedAccessKey=",
    b"se=",
    b"sig=",
    b"sr=",
    b"skn=",
    b"\xC3",
    b"\xFF",
    b"0",
    b"99999999999999999999",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    let pick = |rng: &mut Rng, n: usize| (rng.next_u32() as usize) % n.max(1);
    out.clear();
    out.extend_from_slice(&seeds[pick(rng, seeds.len())]);
    for _ in 0..=pick(rng, 4) {
        let at = pick(rng, out.len() + 1);
        match rng.next_u32() % 6 {
            0 if !out.is_empty() => {
                let i = pick(rng, out.len());
                out[i] = rng.next_u32() as u8;
            }
            1 => {
                let d = DICT[pick(rng, DICT.len())];
                out.splice(at..at, d.iter().copied());
            }
            2 => out.truncate(at),
            3 if !out.is_empty() => {
                let end = (at + pick(rng, 16)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let other = &seeds[pick(rng, seeds.len())];
                let from = pick(rng, other.len() + 1);
                out.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let end = (at + 1 + pick(rng, 8)).min(out.len());
                let chunk = out[at.min(end)..end].to_vec();
                for _ in 0..pick(rng, 64) {
                    out.splice(at..at, chunk.iter().copied());
                }
            }
        }
        out.truncate(MAX_INPUT);
    }
}

#[test]
fn fuzz_targets_replay_seeds_and_mutations_succeeds() {
    let mut buf = Vec::new();
    for (name, entry) in TARGETS {
        let seeds = seeds(name);
        assert!(seeds.len() >= 5, "{name}: too few seeds");
        for s in &seeds {
            entry(s);
        }
        let mut rng = Rng::new(0xF022 ^ name.len() as u64);
        for _ in 0..MUTATIONS {
            mutate(&mut rng, &seeds, &mut buf);
            entry(&buf);
        }
        println!(
            "fuzz replay {name}: {} seeds + {MUTATIONS} mutations",
            seeds.len()
        );
    }
}
