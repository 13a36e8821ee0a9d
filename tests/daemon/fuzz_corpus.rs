//! The kept fuzz corpus, and mutations of it, replayed through castd's fuzz entry points
//! (built with the `fuzzing` feature, as `scripts/test` does) so every run checks what the
//! fuzzers found once.

use std::path::Path;

/// A small, repeatable mutator (xorshift), so the suite replays the same inputs each run.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One to four edits: flip, insert, delete, duplicate, or splice in a token that
    /// parsers care about or a piece of another input.
    fn mutate(&mut self, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b"&",
            b"=",
            b"%",
            b"%00",
            b"%FF",
            b"\\",
            b",",
            b":",
            b"-1",
            b"0",
            b"9223372036854775807",
            b"9223372036854775808",
            b"1e309",
            b"null",
            b"true",
            b"\"true\"",
            b"\r\n",
            b"\r\n ",
            b"\xff",
            b"\xf0\x9f\x93\xb9",
            b"-",
            b"bytes=",
            b"FREQ=SECONDLY",
            b";COUNT=100000",
            b"BEGIN:VEVENT\r\n",
            b"END:VEVENT\r\n",
            b"TZID=",
            b"../",
            b"\"type\":\"compositor\"",
            b"\"children\":[",
            b"\"parents\":[",
        ];
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(6) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                1 => out.insert(at, self.next() as u8),
                2 if !out.is_empty() => {
                    let len = self.below(16).min(out.len() - at.min(out.len()));
                    out.drain(at..at + len);
                }
                3 if !out.is_empty() => {
                    let from = self.below(out.len());
                    let len = self.below(32).min(out.len() - from);
                    let piece = out[from..from + len].to_vec();
                    out.splice(at..at, piece);
                }
                4 if !others.is_empty() => {
                    let other = &others[self.below(others.len())];
                    let from = self.below(other.len());
                    let len = self.below(64).min(other.len().saturating_sub(from));
                    out.splice(at..at, other[from..from + len].iter().copied());
                }
                _ => {
                    let token = TOKENS[self.below(TOKENS.len())];
                    out.splice(at..at, token.iter().copied());
                }
            }
        }
        out
    }
}

/// One fuzz entry point of `castd::fuzzing`.
type FuzzTarget = fn(&[u8]);

/// Mutated inputs per corpus file in the normal suite; `scripts/torture fuzz` runs the
/// real fuzzers for longer.
const MUTATIONS_PER_SEED: usize = 40;

#[test]
fn the_fuzz_corpus_and_mutations_of_it_keep_every_invariant() {
    let targets: [(&str, FuzzTarget); 7] = [
        ("form_json", castd::fuzzing::form_and_json),
        ("capture_request", castd::fuzzing::capture_request),
        ("event", castd::fuzzing::event),
        ("template", castd::fuzzing::template),
        ("graph_compile", castd::fuzzing::graph),
        ("ical", castd::fuzzing::ical),
        ("range_header", castd::fuzzing::range_header),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut mutator = Mutator(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    for (target, run) in targets {
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(root.join(target))
            .unwrap_or_else(|e| panic!("corpus for {target}: {e}"))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{target} has no corpus");
        let mut inputs = seeds.clone();
        for seed in &seeds {
            for _ in 0..MUTATIONS_PER_SEED {
                inputs.push(mutator.mutate(seed, &seeds));
            }
        }
        let started = std::time::Instant::now();
        for input in &inputs {
            if std::panic::catch_unwind(|| run(input)).is_err() {
                failures.push(format!("{target}: {:?}", String::from_utf8_lossy(input)));
            }
        }
        eprintln!(
            "fuzz corpus {target}: {} seeds + {} mutations in {:.2} s",
            seeds.len(),
            inputs.len() - seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
    // The entry points keep a scratch database and file per process.
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("castd-fuzz-{}", std::process::id())),
    );
    assert!(
        failures.is_empty(),
        "inputs that broke an invariant:\n{}",
        failures.join("\n")
    );
}
