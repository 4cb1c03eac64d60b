//! Installed integrations: install from the catalog, list, read (secrets masked), change
//! (a new configuration restarts delivery) and remove (the test button is `test_event.rs`).

use super::reply::{
    changed_meanwhile, error, list, not_an_object, not_found, not_shared, store_failed, validation,
};
use super::state::AdminState;
use crate::clock::now_rfc3339;
use crate::http::{Resp, json};
use crate::pipeline::PipelineStartError;
use hyper::StatusCode;
use serde_json::{Map, Value, json};
use signal_core::{Blueprint, IntegrationConfig, mask_secret};
use signal_spool::Start;
use signal_store::IntegrationRecord;

/// An integration as the API shows it: secrets masked, with its delivery status.
pub(super) async fn integration_json(shared: &AdminState, rec: &IntegrationRecord) -> Value {
    let bp = Blueprint::get(&rec.blueprint);
    let mut config = rec.config.clone();
    if let Some(bp) = bp {
        for f in bp.config_fields.iter().filter(|f| f.secret) {
            if let Some(Value::String(s)) = config.get_mut(&f.key) {
                *s = mask_secret(s);
            }
        }
    }
    let (status, diagnosis) = match shared.runtimes().await.get(&rec.id) {
        Some(rt) => rt.stats.status(),
        None => ("paused".into(), None),
    };
    let sandbox = bp.and_then(|bp| {
        let region = IntegrationConfig::validate(bp, &Value::Object(rec.config.clone()))
            .ok()?
            .region;
        sandbox_url(&shared.pipeline().settings.base_url(bp, &region)?)
    });
    json!({
        "id": rec.id, "name": rec.name, "blueprint": rec.blueprint, "blueprint_version": rec.blueprint_version,
        "variant": rec.variant, "config": config, "delivery_mode": rec.delivery_mode, "enabled": rec.enabled,
        "status": status, "diagnosis": diagnosis, "created_at": rec.created_at, "updated_at": rec.updated_at,
        "sandbox_url": sandbox,
    })
}

/// The vendor sandbox's visitor view (`{base}/_sim/visitors`) when the integration's vendor
/// base URL is a loopback address (`127.0.0.0/8`, `[::1]`, `localhost`): there, the vendor is
/// the sandbox `signal-edge demo` and the tests start, not the vendor itself.
fn sandbox_url(base: &str) -> Option<String> {
    let uri = base.parse::<hyper::Uri>().ok()?;
    let host = uri.host()?;
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    loopback.then(|| format!("{}/_sim/visitors", base.trim_end_matches('/')))
}

/// A new integration id: `int_` and 16 hex digits from `fill` (the system's randomness). Without
/// randomness there is no id (`no_randomness`), never a fixed one every install would share.
fn new_id(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<String, getrandom::Error> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(format!(
        "int_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// `503 UNAVAILABLE`: no id could be made; nothing was installed.
fn no_randomness(e: getrandom::Error) -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        &format!(
            "no randomness to make an integration id from ({e}); nothing was installed: try again"
        ),
    )
}

/// `POST /integration-catalog/{key}/install`: validates, stores and starts delivery; 201.
pub(super) async fn install(shared: &AdminState, key: &str, body: Value) -> Resp {
    let Some(bp) = Blueprint::get(key) else {
        return not_found("blueprint with this key");
    };
    let name = match body.get("name") {
        None => Some(bp.name.clone()),
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_owned()),
        Some(_) => None,
    };
    // Left out, each takes its default; anything but a string is refused, never taken as left out.
    let mut not_text = std::collections::BTreeMap::new();
    let mut text = |key: &str| match body.get(key) {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            not_text.insert(key.to_owned(), "must be a string".to_owned());
            None
        }
    };
    let (variant, mode) = (text("variant"), text("delivery_mode"));
    let mut config = body
        .get("config")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    // Nothing is stored yet: a mask is a copied configuration, never a key.
    let masks = match config.as_object_mut() {
        Some(c) => crate::secrets::resolve_masked_secrets(bp, None, c).err(),
        None => None,
    };
    let checked = IntegrationConfig::validate_install(bp, variant, mode, &config);
    let (validated, variant, name) = match (checked, name, masks) {
        (Ok((validated, variant)), Some(name), None) if not_text.is_empty() => {
            (validated, variant, name)
        }
        (checked, name, masks) => {
            let mut fields = checked.err().map(|e| e.fields).unwrap_or_default();
            fields.extend(masks.unwrap_or_default());
            fields.extend(not_text);
            if name.is_none() {
                fields.insert("name".into(), "must be a non-empty string".into());
            }
            return validation(fields);
        }
    };
    let id = match new_id(getrandom::fill) {
        Ok(id) => id,
        Err(e) => return no_randomness(e),
    };
    let _writing = super::WRITES.lock().await;
    let existing = match shared.store().integrations() {
        Ok(l) => l,
        Err(e) => return store_failed(&e),
    };
    if existing.iter().any(|i| i.name == name) {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("an integration named `{name}` exists"),
        );
    }
    let now = now_rfc3339();
    let rec = IntegrationRecord {
        id,
        name,
        blueprint: bp.key.clone(),
        blueprint_version: bp.version.clone(),
        variant: variant.key.clone(),
        config: validated.values,
        delivery_mode: "server_side".into(),
        enabled: true,
        created_at: now.clone(),
        updated_at: now,
    };
    if let Some(c) = shared.cluster()
        && let Err(e) = c.put_integration(&rec).await
    {
        return not_shared(&e);
    }
    if let Err(e) = shared.store().put_integration(&rec) {
        unshare(shared, &rec.id).await;
        return store_failed(&e);
    }
    if let Err(e) = shared.run(&rec, Start::Latest).await {
        unshare(shared, &rec.id).await;
        return undo_install(shared, &rec.id, &e);
    }
    let fields = super::audit::integration_fields(&rec);
    let resource = format!("integrations/{}", rec.id);
    super::audit::record(
        shared,
        "integration.installed",
        &resource,
        super::audit::changes(None, Some(&fields)),
    )
    .await;
    json(StatusCode::CREATED, &integration_json(shared, &rec).await)
}

/// An install taken back: the other nodes are told to forget it too (logged when they cannot
/// be: they then deliver an integration this node does not list, until it is deleted).
async fn unshare(shared: &AdminState, id: &str) {
    if let Some(c) = shared.cluster()
        && let Err(e) = c.remove_integration(id).await
    {
        tracing::error!(integration = id, error = %e, "an install taken back here is still shared with the other nodes");
    }
}

/// An install whose delivery could not start (`why`, a spool failure) is taken back out of the
/// store, so it is not listed half made and the same request can be sent again: `503`.
fn undo_install(shared: &AdminState, id: &str, why: &PipelineStartError) -> Resp {
    let _ = shared.spool().remove_consumer(id);
    let message = match shared.store().delete_integration(id) {
        Ok(_) => format!("its delivery could not start ({why}); nothing was installed: try again"),
        Err(e) => format!(
            "its delivery could not start ({why}), and it could not be taken back out of the \
             store ({e}): it is listed but delivers nothing; delete it, then install again"
        ),
    };
    error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", &message)
}

/// Applies a PATCH body's name and enabled to `rec`, and answers the configuration it asks for
/// (the stored one with the sent fields over it, not yet validated), or the fields it cannot take.
fn apply_patch(
    rec: &mut IntegrationRecord,
    bp: &Blueprint,
    o: &Map<String, Value>,
) -> Result<Map<String, Value>, std::collections::BTreeMap<String, String>> {
    let mut fields = std::collections::BTreeMap::new();
    let mut config = rec.config.clone();
    for (k, v) in o {
        match k.as_str() {
            "name" => match v.as_str() {
                Some(n) if !n.trim().is_empty() => rec.name = n.to_owned(),
                _ => {
                    fields.insert("name".to_owned(), "must be a non-empty string".to_owned());
                }
            },
            "enabled" => match v.as_bool() {
                Some(b) => rec.enabled = b,
                None => {
                    fields.insert("enabled".into(), "must be true or false".into());
                }
            },
            "config" => match v.as_object() {
                Some(c) => {
                    // A secret sent back as read (the stored one's mask) keeps the stored one;
                    // any other mask is refused.
                    let mut c = c.clone();
                    match crate::secrets::resolve_masked_secrets(bp, Some(&rec.config), &mut c) {
                        Ok(()) => config.extend(c),
                        Err(refused) => fields.extend(refused),
                    }
                }
                None => {
                    fields.insert("config".into(), "must be an object".into());
                }
            },
            "event_mapping" | "rate_limit_per_second" => {
                config.insert(k.clone(), v.clone());
            }
            other => {
                fields.insert(other.to_owned(), "cannot be changed".into());
            }
        }
    }
    if fields.is_empty() {
        Ok(config)
    } else {
        Err(fields)
    }
}

/// `PATCH /integrations/{id}`: a partial update; a new configuration restarts delivery. The
/// record is read again after the body, under the management write lock, so what the body is
/// judged against (a secret's mask above all) is what is stored when it is written.
pub(super) async fn patch(shared: &AdminState, id: &str, body: Value) -> Resp {
    let Some(o) = body.as_object() else {
        return not_an_object();
    };
    let _writing = super::WRITES.lock().await;
    // On JetStream the change goes over what the cluster holds (this node's copy may be a
    // moment behind), and is written only if no other node changed it since.
    let (mut rec, revision) = match shared.cluster() {
        Some(c) => match c.integration(id).await {
            Ok(Some((rec, rev))) => (rec, Some(rev)),
            Ok(None) => return not_found("integration with this id"),
            Err(e) => return not_shared(&e),
        },
        None => match shared.store().integration(id) {
            Ok(Some(rec)) => (rec, None),
            Ok(None) => return not_found("integration with this id"),
            Err(e) => return store_failed(&e),
        },
    };
    let Some(bp) = Blueprint::get(&rec.blueprint) else {
        return not_found("blueprint");
    };
    let before = super::audit::integration_fields(&rec);
    let config = match apply_patch(&mut rec, bp, o) {
        Ok(config) => config,
        Err(fields) => return validation(fields),
    };
    match IntegrationConfig::validate(bp, &Value::Object(config)) {
        Ok(c) => rec.config = c.values,
        Err(e) => return validation(e.fields),
    }
    match shared.store().integrations() {
        Ok(all) if all.iter().any(|i| i.name == rec.name && i.id != rec.id) => {
            return error(
                StatusCode::CONFLICT,
                "CONFLICT",
                &format!("an integration named `{}` exists", rec.name),
            );
        }
        Ok(_) => {}
        Err(e) => return store_failed(&e),
    }
    rec.updated_at = now_rfc3339();
    if let (Some(c), Some(rev)) = (shared.cluster(), revision)
        && let Err(e) = c.update_integration(&rec, rev).await
    {
        return if e.is_conflict() {
            changed_meanwhile()
        } else {
            not_shared(&e)
        };
    }
    if let Err(e) = shared.store().put_integration(&rec) {
        return store_failed(&e);
    }
    // A new configuration restarts delivery: held events go out with the new key or region.
    if rec.enabled {
        if let Err(e) = shared.run(&rec, Start::Latest).await {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                &format!(
                    "the change is saved, but delivery could not restart ({e}); its events are \
                     kept in the spool, and delivery starts again with the next change or when \
                     the node restarts"
                ),
            );
        }
    } else {
        shared.halt(&rec.id).await;
    }
    let after = super::audit::integration_fields(&rec);
    let changes = super::audit::changes(Some(&before), Some(&after));
    // Only `enabled` changed: said as enabling or disabling.
    let action = match changes.as_object().map(|c| c.keys().collect::<Vec<_>>()) {
        Some(keys) if keys == ["enabled"] && rec.enabled => "integration.enabled",
        Some(keys) if keys == ["enabled"] => "integration.disabled",
        _ => "integration.updated",
    };
    let resource = format!("integrations/{}", rec.id);
    super::audit::record(shared, action, &resource, changes).await;
    json(StatusCode::OK, &integration_json(shared, &rec).await)
}

/// `GET /integrations`: every installed integration, as a paged list.
pub(super) async fn list_all(shared: &AdminState, query: &str) -> Resp {
    match shared.store().integrations() {
        Ok(all) => {
            let mut data = Vec::new();
            for rec in &all {
                data.push(integration_json(shared, rec).await);
            }
            list(data, query)
        }
        Err(e) => store_failed(&e),
    }
}

/// `GET /integrations/{id}`.
pub(super) async fn show(shared: &AdminState, rec: &IntegrationRecord) -> Resp {
    json(StatusCode::OK, &integration_json(shared, rec).await)
}

/// `DELETE /integrations/{id}`: forgets it, stops its delivery and releases its place in the
/// spool. 204 only once it is gone from the store; a failed delete changes nothing (503).
pub(super) async fn remove(shared: &AdminState, rec: &IntegrationRecord) -> Resp {
    let id = rec.id.as_str();
    let _writing = super::WRITES.lock().await;
    if let Some(c) = shared.cluster() {
        match shared.store().integration(id) {
            Ok(Some(_)) => {}
            Ok(None) => return not_found("integration with this id"),
            Err(e) => return store_failed(&e),
        }
        if let Err(e) = c.remove_integration(id).await {
            return not_shared(&e);
        }
    }
    match shared.store().delete_integration(id) {
        Ok(true) => {}
        Ok(false) => return not_found("integration with this id"),
        Err(e) => return store_failed(&e),
    }
    shared.halt(id).await;
    if let Err(e) = shared.spool().remove_consumer(id) {
        // The integration is gone; what is left is its cursor or dead letters on disk.
        tracing::warn!(integration = id, error = %e, "removed, but its place in the spool could not be released");
    }
    if let Some(nats) = shared.gateway().nats() {
        let gone = match nats.remove_consumer(id).await {
            Ok(()) => nats.purge(id, None).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = gone {
            tracing::warn!(integration = id, error = %e, "removed, but its JetStream consumer or dead letters could not be");
        }
    }
    let fields = super::audit::integration_fields(rec);
    let resource = format!("integrations/{id}");
    super::audit::record(
        shared,
        "integration.removed",
        &resource,
        super::audit::changes(Some(&fields), None),
    )
    .await;
    super::reply::no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_vendor_is_a_sandbox() {
        assert_eq!(
            sandbox_url("http://127.0.0.1:9001").as_deref(),
            Some("http://127.0.0.1:9001/_sim/visitors")
        );
        assert_eq!(
            sandbox_url("http://[::1]:9/").as_deref(),
            Some("http://[::1]:9/_sim/visitors")
        );
        assert!(sandbox_url("http://localhost:9").is_some());
        assert_eq!(sandbox_url("https://app.pendo.io"), None);
        assert_eq!(sandbox_url("http://10.0.0.1:80"), None);
        assert_eq!(sandbox_url("not a url"), None);
    }

    #[test]
    fn without_randomness_an_install_gets_503_and_no_id() {
        let e = new_id(|_| Err(getrandom::Error::UNSUPPORTED)).expect_err("no id");
        assert_eq!(no_randomness(e).status(), StatusCode::SERVICE_UNAVAILABLE);
        let a = new_id(getrandom::fill).ok().unwrap_or_default();
        let b = new_id(getrandom::fill).ok().unwrap_or_default();
        assert!(a.starts_with("int_") && a.len() == 20, "{a}");
        assert_ne!(a, b, "ids differ");
    }
}
