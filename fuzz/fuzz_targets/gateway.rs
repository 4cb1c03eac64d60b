//! Arbitrary requests (path, method, headers, body, compressed or not) through the gateway's
//! pure steps: route, admit (encoding, credentials, origin), build (records), check_fits. Some
//! inputs are signed with a known source's secret (`x-signature: sign:<source>`), so signed
//! requests and `/v1/events` are fuzzed past authentication.
//! The invariants are in `crates/server/tests/support/gateway_invariants.rs`.
#![no_main]

include!("../../crates/server/tests/support/gateway_invariants.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = check_gateway(data);
});
