//! The audit log: who changed what through the management API, kept in the store with ids in
//! the order they were written, read newest first a page at a time with filters, and pruned
//! by age (`SIGNAL_AUDIT_RETENTION_DAYS`).

use crate::{Store, StoreError, err};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_log");

/// One change, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its place in the log (filled in when it is written).
    pub id: u64,
    /// RFC 3339.
    pub at: String,
    /// Milliseconds since the epoch (for time filters and pruning).
    pub at_ms: i64,
    /// Who: a user's email or a token's name (`admin-token` for the admin token).
    pub actor: String,
    /// What: `integration.installed`, `source.updated`, ...
    pub action: String,
    /// On what: `integrations/<id>`, `sources/<id>`, ...
    pub resource: String,
    /// Field -> `{"old","new"}`, secrets masked by the caller.
    pub changes: serde_json::Value,
    /// The client's address.
    pub ip: String,
    /// Its `User-Agent`, if it sent one.
    pub user_agent: Option<String>,
}

/// Which records a page holds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Exactly this action, or actions under it when it ends in `.` (`integration.`).
    pub action: Option<String>,
    /// Exactly this resource.
    pub resource: Option<String>,
    /// At or after, ms.
    pub since_ms: Option<i64>,
    /// Before, ms.
    pub until_ms: Option<i64>,
}

impl AuditFilter {
    fn admits(&self, r: &AuditRecord) -> bool {
        let action_ok = match self.action.as_deref() {
            None => true,
            Some(a) if a.ends_with('.') => r.action.starts_with(a),
            Some(a) => r.action == a,
        };
        action_ok
            && self.actor.as_deref().is_none_or(|a| r.actor == a)
            && self.resource.as_deref().is_none_or(|x| r.resource == x)
            && self.since_ms.is_none_or(|s| r.at_ms >= s)
            && self.until_ms.is_none_or(|u| r.at_ms < u)
    }
}

impl Store {
    /// Writes `rec` (its `id` given here: one past the last), durably; the id.
    ///
    /// # Errors
    ///
    /// The write fails: nothing is recorded.
    pub fn append_audit(&self, rec: &AuditRecord) -> Result<u64, StoreError> {
        self.check(true, "audit")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let id;
        {
            let mut t = txn.open_table(AUDIT).map_err(|e| err("open table")(&e))?;
            let last = t
                .last()
                .map_err(|e| err("read audit")(&e))?
                .map_or(0, |(k, _)| k.value());
            id = last + 1;
            let mut rec = rec.clone();
            rec.id = id;
            let bytes = serde_json::to_vec(&rec).map_err(|e| err("encode audit")(&e))?;
            t.insert(id, bytes.as_slice())
                .map_err(|e| err("insert audit")(&e))?;
        }
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(id)
    }

    /// Up to `limit` records `filter` admits, newest first, before id `before` (a page's
    /// cursor: the last id of the page before); and whether there are more.
    ///
    /// # Errors
    ///
    /// The read fails.
    pub fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool), StoreError> {
        self.check(false, "audit")?;
        let txn = self.db.begin_read().map_err(|e| err("begin")(&e))?;
        let t = match txn.open_table(AUDIT) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((Vec::new(), false)),
            Err(e) => return Err(err("open table")(&e)),
        };
        let range = t
            .range(..before.unwrap_or(u64::MAX))
            .map_err(|e| err("read audit")(&e))?;
        let mut out = Vec::new();
        for item in range.rev() {
            let (_, v) = item.map_err(|e| err("read audit")(&e))?;
            let Ok(rec) = serde_json::from_slice::<AuditRecord>(v.value()) else {
                continue;
            };
            if filter.since_ms.is_some_and(|s| rec.at_ms < s) {
                // Older from here on (ids follow time): nothing more can match.
                break;
            }
            if filter.admits(&rec) {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(rec);
            }
        }
        Ok((out, false))
    }

    /// Removes the records older than `before_ms`; how many.
    ///
    /// # Errors
    ///
    /// The write fails: nothing is removed.
    pub fn prune_audit(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.check(true, "audit")?;
        let txn = self.db.begin_write().map_err(|e| err("begin")(&e))?;
        let mut n = 0;
        {
            let mut t = match txn.open_table(AUDIT) {
                Ok(t) => t,
                Err(e) => return Err(err("open table")(&e)),
            };
            let old: Vec<u64> = t
                .iter()
                .map_err(|e| err("read audit")(&e))?
                .map_while(|item| {
                    let (k, v) = item.ok()?;
                    let rec: AuditRecord = serde_json::from_slice(v.value()).ok()?;
                    (rec.at_ms < before_ms).then(|| k.value())
                })
                .collect();
            for id in old {
                t.remove(id).map_err(|e| err("remove audit")(&e))?;
                n += 1;
            }
        }
        txn.commit().map_err(|e| err("commit")(&e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at_ms: i64, action: &str, actor: &str) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: String::new(),
            at_ms,
            actor: actor.into(),
            action: action.into(),
            resource: "integrations/i1".into(),
            changes: serde_json::json!({}),
            ip: "127.0.0.1".into(),
            user_agent: None,
        }
    }

    #[test]
    fn records_are_read_newest_first_a_page_at_a_time_filtered_and_pruned_by_age() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("store.redb")).expect("open");
        assert_eq!(
            store
                .audit_page(&AuditFilter::default(), None, 10)
                .expect("read"),
            (vec![], false)
        );
        for n in 0..25 {
            let action = if n % 2 == 0 {
                "integration.updated"
            } else {
                "source.created"
            };
            let id = store
                .append_audit(&rec(1000 + n, action, "admin-token"))
                .expect("write");
            assert_eq!(id, u64::try_from(n).expect("n") + 1);
        }
        let all = AuditFilter::default();
        let (page, more) = store.audit_page(&all, None, 10).expect("read");
        assert!(more);
        assert_eq!(
            page.iter().map(|r| r.id).collect::<Vec<_>>(),
            (16..=25).rev().collect::<Vec<_>>()
        );
        let (next, _) = store.audit_page(&all, Some(16), 10).expect("read");
        assert_eq!(next.first().map(|r| r.id), Some(15));
        let sources = AuditFilter {
            action: Some("source.".into()),
            since_ms: Some(1010),
            until_ms: Some(1020),
            ..AuditFilter::default()
        };
        let (page, more) = store.audit_page(&sources, None, 100).expect("read");
        assert!(!more);
        assert_eq!(
            page.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
            [1019, 1017, 1015, 1013, 1011]
        );
        assert_eq!(store.prune_audit(1020).expect("prune"), 20);
        let (left, _) = store.audit_page(&all, None, 100).expect("read");
        assert_eq!(left.len(), 5);
        assert_eq!(
            store.append_audit(&rec(2000, "x", "y")).expect("write"),
            26,
            "ids go on"
        );
    }
}
