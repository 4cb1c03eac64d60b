// The invariants every input must keep, shared by the fuzz target (`fuzz/`) and the test that
// replays its corpus on stable (`crates/core/tests/fuzz_corpus.rs`). Included with `include!`.

/// Feeds `data` through parse and map as a body of every shape and asserts:
/// no panic; every error names a location and a rule; every request body is valid JSON.
pub fn check_invariants(data: &[u8]) {
    use signal_core::{Mapped, Mapper, MemoryIdentity, Parser, Shape};
    let config = serde_json::json!({"api_key": "a", "integration_key": "k"});
    let mut mapper = Mapper::from_config("pendo", &config).expect("valid config");
    let ids = MemoryIdentity::new();
    let mut parser = Parser::new();
    for shape in [Shape::EventOrBatch, Shape::Event(None), Shape::Batch] {
        let mut buf = data.to_vec();
        let doc = match parser.parse(&mut buf, shape) {
            Ok(doc) => doc,
            Err(e) => {
                assert!(!e.path().is_empty(), "error without a location: {e:?}");
                assert!(e.to_string().len() > e.path().len() + 2, "error without a rule: {e}");
                continue;
            }
        };
        for event in doc.events() {
            let ev = match event {
                Ok(ev) => ev,
                Err(e) => {
                    assert!(!e.path().is_empty() && e.path() != "body" || !doc.is_batch(), "{e}");
                    assert!(e.to_string().contains(": "), "{e}");
                    continue;
                }
            };
            let mapping = mapper.map(&ev, &ids, 1_764_140_000_000);
            let Mapped::Send(items) = mapping.outcome else {
                continue;
            };
            for item in items.iter() {
                if let Err(e) = serde_json::from_slice::<serde_json::Value>(item.body) {
                    panic!("invalid JSON out ({e}): {}", String::from_utf8_lossy(item.body));
                }
            }
        }
    }
}
