//! Fuzz target: see `castd::fuzzing::capture_request` for what it feeds and which invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| castd::fuzzing::capture_request(data));
