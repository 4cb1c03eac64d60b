//! End-to-end: the real `signal-edge` binary as a process, on ephemeral ports with a temporary
//! data directory, its Pendo base URLs pointed at sandboxes in this test process.
//!
//! - `harness.rs`: starting the binary and the sandboxes, calling its APIs, waiting.
//! - `tmpfs.rs`: a small real filesystem the full-disk tests mount and fill.
//! - `people.rs`: the first start's owner invitation through the real binary (issue 15).
//! - `audit.rs`: the audit log: each change with who, where and its fields (secrets masked),
//!   filters and a cursor (issue 15).
//! - `admin_errors.rs`: the management API's answers to bad input: replay bodies, secrets'
//!   masks, look-alike paths, `HEAD` on health, the test button's refusal (issue 11).
//! - `admin_hardening.rs`: secrets read and written back, empty or unreadable secret files,
//!   empty credentials, the spool's size cap.
//! - `bounds.rs`: origins with a default port refused, live events naming their source and
//!   cut to a few KiB, the in-flight bytes in the stats (issue 11, review 2).
//! - `connections.rs`: connections judged by the bytes that move (a quiet event stream stays).
//! - `api.rs`: the ingestion and management APIs, delivery, restarts and signals.
//! - `dead_letters.rs`: dead letters through the management API.
//! - `gateway_hardening.rs`: slow clients, connection limits, encodings and bombs, origins, merged
//!   records, schemes, HMAC timestamps, source ids in records (issue 11).
//! - `browser.rs`: the management UI in headless Chromium, through `webdriver.rs`.
//! - `demo.rs`: `signal-edge demo`: its first screen, only the warnings it means, whole visits
//!   in the sandbox's visitor view (issue 16).
//! - `disk_full.rs`: the node on a real full filesystem (a tmpfs the test mounts and fills).
//! - `records.rs`: what the gateway stores, delivery reads: a batch context in either spelling
//!   delivered, an unreadable record a dead letter naming why, a context that cannot multiply a
//!   request into megabytes (issue 11, review 2).
//! - `vendors.rs`: what the vendor tests share: a sandbox from a fixture, an install from the
//!   catalog, every event accounted for (stats, sandbox, dead letters), no secret shown.
//! - `amplitude.rs`, `heap.rs`: Amplitude and Heap against their sandbox fixtures: batches,
//!   partial failures by index, per-user holds, 413 splits, merges (issue 12).
//! - `fixture_vendor.rs`: a vendor that exists only in `tests/fixtures` installs, maps and
//!   delivers with its partial failure handled; a blueprint file that does not load exits 64.
//! - `loadgen.rs`: `loadgen --sink null` counted by the receiver process, `--drain`, and
//!   `--nodes 2` on JetStream.
//! - `jetstream.rs`: one node on JetStream: delivered once, a killed node's events after its
//!   restart, 503 then recovery, dead letters, held events handed back on a change, readiness.
//! - `series.rs`: the stats' per-second series add up to the outcomes of a run with failures.
//! - `accounting.rs`: Pendo after a run with failures: every event accounted for, no key shown.
//! - `openapi.rs`: the OpenAPI document as served, and what schemathesis found (issue 15).
//! - `old_spool.rs`: a spool written by the previous release (format v1) delivered with the
//!   bodies that release sent (issue 13).
//! - `jetstream_nodes.rs`: several nodes on one JetStream: 30,000 events round-robin each
//!   delivered once, a `kill -9` mid-delivery losing nothing, one messageId to two nodes kept
//!   once, changes on one node's API on the others within a second, an identify on one node
//!   linking a visitor for another, a 100/s rate limit held by three nodes together (issue 14).
//! - `jetstream_cluster.rs`: a node on a three-server NATS cluster (replicas 3) whose server is
//!   killed under load: every event answered 200 delivered, every other answer a 503 with
//!   `Retry-After`, ready again on two servers (issue 14).
//! - `pipeline_faults.rs`: dead letters on a full disk (written once there is room, nothing
//!   stopped meanwhile) and dead letters dropped past their cap, in the stats and `/metrics`.

mod accounting;
mod admin_errors;
mod admin_hardening;
mod amplitude;
mod api;
mod audit;
mod bounds;
mod browser;
mod connections;
mod dead_letters;
mod demo;
mod disk_full;
mod fixture_vendor;
mod gateway_hardening;
mod harness;
mod heap;
mod jetstream;
mod jetstream_cluster;
mod jetstream_nodes;
mod loadgen;
mod old_spool;
mod openapi;
mod people;
mod pipeline_faults;
mod records;
mod series;
mod tmpfs;
mod vendors;
mod webdriver;
