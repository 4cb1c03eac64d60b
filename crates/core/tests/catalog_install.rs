//! Blueprints read at run time join the catalog: a vendor that exists only in a test fixture is
//! installed before the catalog is first used, then found, listed and mapped like Pendo. (Its
//! own test binary: the catalog is loaded once per process.)

use serde_json::json;
use signal_core::{
    Blueprint, Mapped, Mapper, MemoryIdentity, Parser, Shape, catalog, install_catalog,
};

#[test]
fn a_fixture_vendor_installed_at_run_time_is_in_the_catalog_and_maps() {
    let text = include_str!("fixtures/acme_analytics.json");
    let bp = Blueprint::parse("acme_analytics.json", text).expect("loads");
    assert!(install_catalog(vec![bp]), "before first use");
    let keys: Vec<&str> = catalog().iter().map(|b| b.key.as_str()).collect();
    assert!(
        keys.contains(&"pendo") && keys.contains(&"acme_analytics"),
        "{keys:?}"
    );
    // Too late once the catalog is in use.
    let again = Blueprint::parse("acme_analytics.json", text).expect("loads");
    assert!(!install_catalog(vec![again]));

    let mut m = Mapper::from_config("acme_analytics", &json!({"api_key": "k"})).expect("valid");
    let mut buf = br#"{"type":"track","event":"E","userId":"u"}"#.to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    let Mapped::Send(items) = m.map(&ev, &MemoryIdentity::new(), 0).outcome else {
        panic!("not sent")
    };
    let body: serde_json::Value =
        serde_json::from_slice(items.get(0).expect("item").body).expect("json");
    assert_eq!((&body["name"], &body["user"]), (&json!("E"), &json!("u")));
}
