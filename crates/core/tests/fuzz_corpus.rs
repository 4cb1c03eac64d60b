//! Replays the fuzzer's committed corpus (`fuzz/corpus/parse_map/`) on stable, so CI checks the
//! same invariants as `cargo +nightly fuzz run parse_map` without nightly.

include!("support/invariants.rs");

#[test]
fn every_corpus_input_keeps_the_invariants() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_map");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            check_invariants(&std::fs::read(&path).expect("readable"));
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} corpus files in {}", dir.display());
}
