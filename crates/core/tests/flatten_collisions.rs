//! Flattening nested properties (Heap) can make a key an event already has: `{"a": {"b": 1},
//! "a.b": 2}`. The body must still be JSON with each key once; the later one is left out with a
//! `property_collision` warning.

use serde_json::json;
use signal_core::{Mapped, Mapper, Parser, Shape, Warning};

#[test]
fn a_flattened_key_that_collides_is_written_once_with_a_warning() {
    for ev in [
        r#"{"type":"track","event":"e","userId":"u1","properties":{"a":{"b":1},"a.b":2}}"#,
        r#"{"type":"track","event":"e","userId":"u1","properties":{"a.b":2,"a":{"b":1}}}"#,
    ] {
        let mut m = Mapper::from_config("heap", &json!({"app_id": "1"})).expect("valid config");
        let mut buf = ev.as_bytes().to_vec();
        let mut p = Parser::new();
        let doc = p.parse(&mut buf, Shape::Event(None)).expect("parses");
        let e = doc.event(0).expect("reads");
        let mapping = m.map(&e, &(), 1_732_608_000_000);
        let Mapped::Send(items) = mapping.outcome else {
            panic!("heap sends a track");
        };
        let body = items
            .iter()
            .map(|i| String::from_utf8_lossy(i.body).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(body.matches("\"a.b\"").count(), 1, "{ev} -> {body}");
        assert!(
            mapping
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::PropertyCollision { .. })),
            "{ev}: no collision warning: {:?}",
            mapping.warnings
        );
    }
}
