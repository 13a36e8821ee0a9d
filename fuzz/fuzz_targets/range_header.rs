//! Fuzz target: see `castd::fuzzing::range_header` for what it feeds and which invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| castd::fuzzing::range_header(data));
