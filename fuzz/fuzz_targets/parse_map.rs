//! Arbitrary bytes through parse and map: no panic, every error located, every output valid JSON.
#![no_main]

include!("../../crates/core/tests/support/invariants.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_invariants(data);
});
