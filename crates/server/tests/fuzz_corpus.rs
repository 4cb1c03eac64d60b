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
