//! Fuzz target: see `castd::fuzzing::form_and_json` for what it feeds and which invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| castd::fuzzing::form_and_json(data));
