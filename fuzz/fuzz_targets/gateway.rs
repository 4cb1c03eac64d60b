//! Arbitrary requests (path, method, headers, body, compressed or not) through the gateway's
//! pure steps: route, admit (encoding, credentials, origin), build (records).
//! The invariants are in `crates/server/tests/support/gateway_invariants.rs`.
#![no_main]

include!("../../crates/server/tests/support/gateway_invariants.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_gateway(data);
});
