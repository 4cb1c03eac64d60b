//! Replays the gateway fuzzer's committed corpus (`fuzz/corpus/gateway/`) on stable, so CI checks
//! the same invariants as `cargo +nightly fuzz run gateway` without nightly.

include!("support/gateway_invariants.rs");

#[test]
fn every_gateway_corpus_input_keeps_the_invariants() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gateway");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            check_gateway(&std::fs::read(&path).expect("readable"));
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} corpus files in {}", dir.display());
}

/// The harness signs a request whose `x-signature` is `sign:<source>` with that source's
/// secret: `/v1/events` (signature required) and signed requests are fuzzed past
/// authentication, compressed or not, and admitted as the source that signed.
#[test]
fn the_fuzz_harness_signs_requests_past_authentication() {
    let batch = br#"{"batch":[{"type":"track","event":"E","userId":"u","messageId":"m1"}]}"#;
    // 0x85: /v1/events, POST, as is, no bearer key.
    let mut events = b"\x85x-signature: sign:srv\n\n".to_vec();
    events.extend_from_slice(batch);
    assert_eq!(check_gateway(&events).as_deref(), Some("srv"));
    // 0xa4: /v1/batch, POST, gzip by the harness (signed as sent), no bearer key.
    let mut gzip = b"\xa4x-signature: sign\norigin: https://good.example\n\n".to_vec();
    gzip.extend_from_slice(batch);
    assert_eq!(check_gateway(&gzip).as_deref(), Some("web"));
    // Unsigned, the same request to /v1/events is refused.
    let mut unsigned = b"\x85\n\n".to_vec();
    unsigned.extend_from_slice(batch);
    assert_eq!(check_gateway(&unsigned), None);
}
