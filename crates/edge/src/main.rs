//! `signal-edge`: the thin binary. It reads its arguments, resolves the settings (exit 64 naming
//! a bad one), starts logging, and hands the work to `signal-server`: `serve` (the default),
//! `demo`, `loadgen`, or `map` (a dry run of one vendor's mapping, `signal_server::dry_run`). SIGTERM and SIGINT stop it gracefully.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use lexopt::prelude::*;
use signal_server::dry_run::DEFAULT_BLUEPRINT;
use signal_server::{DryRunOptions, Flags, Node, Settings, dry_run};
use std::io::Read as _;
use std::process::ExitCode;

const HELP: &str = "\
signal-edge: Segment-compatible events in, vendor requests out (Pendo, Amplitude, Heap, and
any vendor described by a blueprint file).

Usage:
  signal-edge [serve] [OPTIONS]   The ingestion gateway, delivery and the management API.
  signal-edge demo [OPTIONS]      serve, plus a Pendo sandbox on loopback, the Pendo integration
                                  installed against it, and a stream of sample events.
  signal-edge loadgen [--clients N] [--batch N] [--rate EVENTS_PER_S] [--seconds N]
                  [--deliver] [--sink sandbox|null] [--drain N] [--http auto|h1|h2c]
                  [--json FILE] [--nodes N]
                                  Drive a node (run in this process) with the realistic mix;
                                  report accepted events/s, ack latency, delivered requests/s,
                                  the track backlog, end-to-end latency, memory.
                                  --sink sandbox (default): the Pendo sandbox in this process
                                  is Pendo (delivery measured with --deliver). --sink null: a
                                  receiver in its own process (pinned to the last CPU with
                                  taskset when there is more than one) that answers 200 and
                                  only counts; implies --deliver. --drain N: delivery alone: a
                                  warm-up, then N events ingested with delivery held, then
                                  drained with no ingest; reports requests/s and node CPU
                                  microseconds per vendor request. --http: the node's
                                  SIGNAL_VENDOR_HTTP (SIGNAL_VENDOR_H2_* from the environment).
                                  --nodes N: N nodes in this process on the JetStream of
                                  SIGNAL_LOG_BACKEND, the clients spread over their gateways
                                  (its events stream SIGNAL_SPOOL_MAX_BYTES, as serve's).
  signal-edge map [--blueprint KEY] [--integration JSON] [FILE]
                                  Validate a body (one event or a batch) from FILE or stdin and
                                  print, per event, the vendor requests it becomes, why it is
                                  dropped, or what is wrong with it. --blueprint names the
                                  vendor (default pendo; amplitude, heap, or a key read from
                                  SIGNAL_BLUEPRINT_DIR); --integration is its configuration
                                  (default: every required field filled with a placeholder).
  signal-edge --help | --version

Options (flag > environment > signal.toml > default):
  --config PATH        signal.toml
  --data-dir DIR       SIGNAL_DATA_DIR     ./signal-data
  --ingest-addr ADDR   SIGNAL_INGEST_ADDR  0.0.0.0:8080
  --admin-addr ADDR    SIGNAL_ADMIN_ADDR   127.0.0.1:8084
  --log LEVEL          SIGNAL_LOG          info (JSON lines when not on a terminal)
Also read from the environment: SIGNAL_ADMIN_TOKEN, SIGNAL_PIPELINE_KEY, SIGNAL_PIPELINE_SECRET,
SIGNAL_RETRY_BASE_MS, SIGNAL_RETRY_CAP_MS,
SIGNAL_RETRY_MAX_ATTEMPTS, SIGNAL_SOURCE_RATE_LIMIT, SIGNAL_PAUSE_PROBE_MS, and
  SIGNAL_<VENDOR>_BASE_URL_<REGION>  a region's base URL, for every vendor in the catalog
                           (SIGNAL_PENDO_BASE_URL_EU, SIGNAL_AMPLITUDE_BASE_URL_US, ...)
  SIGNAL_BLUEPRINT_DIR     a directory of extra vendor blueprints (*.json), read at start; a
                           file that does not load stops the start, naming file, path and rule
  SIGNAL_SPOOL_MAX_BYTES   the spool's cap (signal.toml: spool_max_bytes), default 10GiB: bytes,
                           or with a unit: KiB, MiB, GiB, TiB (1024s) or KB, MB, GB, TB (1000s),
                           e.g. 512MiB; at least 64KiB. Over it, ingestion answers 503.
  SIGNAL_DEAD_LETTER_MAX_BYTES  each integration's dead letters (signal.toml:
                           dead_letter_max_bytes), default 256MiB, same units; past it the
                           oldest dead letters are dropped (counted and logged).
  SIGNAL_HEADER_TIMEOUT_MS  time a connection has to send a request head (header_timeout_ms),
                           default 10000; then it is closed; also the longest a connection
                           may go without a byte read or written.
  SIGNAL_BODY_TIMEOUT_MS   time a request's whole body has to arrive (body_timeout_ms),
                           default 30000; then 408.
  SIGNAL_MAX_CONNECTIONS   connections open at once per listener (max_connections), default
                           512; more wait in the kernel's backlog.
  SIGNAL_MAX_BUFFERED_BODY_BYTES  request bodies buffered at once per listener
                           (max_buffered_body_bytes), default 64MiB, same units, at least 2MiB;
                           over it, 503 with Retry-After.
  SIGNAL_VENDOR_HTTP       how delivery speaks to vendors (vendor_http), default auto: HTTP/2
                           where an https vendor offers it (ALPN), else HTTP/1.1 keep-alive;
                           h1: HTTP/1.1 only; h2c: HTTP/2 only, with prior knowledge over
                           plain http (ALPN over https); a vendor that does not speak it gets
                           no request (connection errors, retried).
  SIGNAL_VENDOR_H2_CONNECTIONS  with h2c, connections per vendor host (vendor_h2_connections),
                           default 1, 1 to 64; requests are spread over them in turn.
  SIGNAL_VENDOR_H2_STREAMS  with h2c, requests in flight on one connection (vendor_h2_streams),
                           default 100, 1 to 1000; more wait for a stream. Each integration
                           still has at most 32 requests in flight.
  SIGNAL_DELIVERY_THREADS  threads of delivery's own runtime (delivery_threads), default 1, at
                           most 64; 0 runs delivery on the node's runtime beside ingestion.
  SIGNAL_AUDIT_RETENTION_DAYS  how long the audit log keeps a record (audit_retention_days),
                           default 90, 0 keeps every record, at most 36500.
  SIGNAL_LOG_BACKEND       where accepted events are kept (log_backend): local (default, the
                           spool in the data directory) or nats://host:port[,host:port...]:
                           NATS JetStream (server 2.10 or later) shared by several nodes; the
                           200 is sent once JetStream has acknowledged every event.
  SIGNAL_NATS_CREDS        a NATS credentials file (nats_creds), when the server asks for one.
  SIGNAL_NATS_REPLICAS     copies of each stream in a NATS cluster (nats_replicas), default 1,
                           1 to 5.
  SIGNAL_NATS_DUPLICATE_WINDOW_SECS  how long JetStream drops a repeated source and messageId
                           (nats_duplicate_window_secs), default 86400.
  SIGNAL_NATS_ACK_WAIT_SECS  how long a record a node read stays with it unacknowledged before
                           JetStream hands it to another (nats_ack_wait_secs), default 60;
                           records waiting on a retry are kept by in-progress marks.
The admin token, pipeline key and pipeline secret not set are kept in files in the data
directory (admin-token, pipeline-key, pipeline-secret), generated on first start; an empty one
is generated anew; one that cannot be read stops the start.

People: a node with no users prints a one-time owner invitation
(http://ADMIN/#/invite/inv_...) at each start until someone accepts it; owners and admins then
add users (roles owner, admin, editor, viewer) on the UI's Users page or with
POST /v1/admin/users, and named API tokens with POST /v1/admin/tokens. The admin token stays an
owner-level token for automation. The access tokens' key is <data-dir>/jwt-key.
";

/// The settings loadgen's node reads from the environment: how it speaks to vendors, and its
/// event log (to measure a node on JetStream).
const LOADGEN_NODE_VARS: [&str; 9] = [
    "SIGNAL_SPOOL_MAX_BYTES",
    "SIGNAL_VENDOR_HTTP",
    "SIGNAL_VENDOR_H2_CONNECTIONS",
    "SIGNAL_VENDOR_H2_STREAMS",
    "SIGNAL_LOG_BACKEND",
    "SIGNAL_NATS_CREDS",
    "SIGNAL_NATS_REPLICAS",
    "SIGNAL_NATS_DUPLICATE_WINDOW_SECS",
    "SIGNAL_NATS_ACK_WAIT_SECS",
];

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("signal-edge: {e}");
            ExitCode::from(64)
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = lexopt::Parser::from_env();
    let mut command = None;
    let mut file = None;
    let mut config = None;
    let mut blueprint = String::from(DEFAULT_BLUEPRINT);
    let mut flags = Flags::default();
    let mut load = signal_demo::loadgen::LoadOptions::default();
    while let Some(arg) = args.next()? {
        match arg {
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            Short('V') | Long("version") => {
                println!("signal-edge {}", env!("CARGO_PKG_VERSION"));
                return Ok(ExitCode::SUCCESS);
            }
            Long("integration") => config = Some(args.value()?.string()?),
            Long("blueprint") => blueprint = args.value()?.string()?,
            Long("config") => flags.config = Some(args.value()?.string()?.into()),
            Long("data-dir") => flags.data_dir = Some(args.value()?.string()?),
            Long("ingest-addr") => flags.ingest_addr = Some(args.value()?.string()?),
            Long("admin-addr") => flags.admin_addr = Some(args.value()?.string()?),
            Long("log") => flags.log = Some(args.value()?.string()?),
            Long("clients") => load.clients = args.value()?.parse()?,
            Long("batch") => load.batch = args.value()?.parse()?,
            Long("rate") => load.rate = Some(args.value()?.parse()?),
            Long("seconds") => {
                load.duration = std::time::Duration::from_secs(args.value()?.parse()?);
            }
            Long("deliver") => load.deliver = true,
            Long("sink") => load.sink = args.value()?.parse()?,
            Long("drain") => load.drain = Some(args.value()?.parse()?),
            Long("http") => {
                let v = args.value()?.string()?;
                load.node_env.push(("SIGNAL_VENDOR_HTTP".into(), v));
            }
            Long("json") => load.json = Some(args.value()?.string()?.into()),
            Long("nodes") => load.nodes = args.value()?.parse()?,
            Value(v) if command.is_none() => command = Some(v.string()?),
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let command = command.unwrap_or_else(|| "serve".into());
    if command == "map" {
        let dir = std::env::var_os("SIGNAL_BLUEPRINT_DIR").filter(|d| !d.is_empty());
        let options = DryRunOptions {
            blueprint: &blueprint,
            config: config.as_deref(),
            blueprint_dir: dir.as_deref().map(std::path::Path::new),
        };
        return map(file.as_deref(), &options);
    }
    if command == signal_demo::sink::SUBCOMMAND {
        signal_demo::sink::run_child()?;
        return Ok(ExitCode::SUCCESS);
    }
    if command == "loadgen" {
        init_logging(flags.log.as_deref().unwrap_or("warn"));
        // The node in loadgen takes the vendor HTTP and event log settings from the environment
        // too (--http over SIGNAL_VENDOR_HTTP).
        for var in LOADGEN_NODE_VARS {
            if let Ok(v) = std::env::var(var)
                && !load.node_env.iter().any(|(k, _)| k == var)
            {
                load.node_env.push((var.into(), v));
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return Ok(match runtime.block_on(signal_demo::loadgen::run(load)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e @ signal_demo::DemoError::Settings(_)) => {
                eprintln!("signal-edge loadgen: {e}");
                ExitCode::from(64)
            }
            Err(e) => {
                eprintln!("signal-edge loadgen: {e}");
                ExitCode::FAILURE
            }
        });
    }
    if command != "serve" && command != "demo" {
        return Err(format!("unknown command `{command}`; see --help").into());
    }
    let settings = match Settings::resolve(&flags, |k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("signal-edge: {e}");
            return Ok(ExitCode::from(64));
        }
    };
    init_logging(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if command == "demo" {
            let rate = std::env::var("SIGNAL_DEMO_RATE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20);
            return match signal_demo::demo::run(settings, rate, shutdown_signal()).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("signal-edge: {e}");
                    Ok(ExitCode::from(64))
                }
            };
        }
        let backend = settings.log_backend.describe(&settings.data_dir);
        let (node, generated) = match Node::start(settings).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("signal-edge: {e}");
                return Ok(ExitCode::from(64));
            }
        };
        if let Some(inv) = generated.owner_invitation {
            println!(
                "no one can sign in yet: open http://{}/#/invite/{inv} to become the owner \
                 (one time, valid 7 days)",
                node.admin_addr
            );
        }
        if let Some(t) = generated.admin_token {
            println!(
                "admin token for automation, owner-level (saved in the data directory, shown once): {t}"
            );
        }
        if let Some(k) = generated.pipeline_key {
            println!("pipeline key of the default source (shown once): {k}");
        }
        println!("event log: {backend}");
        println!(
            "listening ingest={} admin={}",
            node.ingest_addr, node.admin_addr
        );
        tracing::info!(ingest = %node.ingest_addr, admin = %node.admin_addr, "signal-edge serving");
        shutdown_signal().await;
        tracing::info!(
            "stopping: finishing requests under way; undelivered events stay in the spool"
        );
        if tokio::time::timeout(std::time::Duration::from_secs(9), node.stop())
            .await
            .is_err()
        {
            tracing::warn!("stop took too long; undelivered events are left in the spool");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Human-readable logs on a terminal, JSON lines otherwise.
fn init_logging(level: &str) {
    use std::io::IsTerminal;
    let level = level.parse().unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// `signal-edge map`: reads the body from `file` or stdin and prints the library's dry run.
fn map(
    file: Option<&str>,
    options: &DryRunOptions<'_>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut body = Vec::new();
    match file {
        Some(path) => body = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
        None => {
            std::io::stdin().read_to_end(&mut body)?;
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let out = dry_run(options, &mut body, now)?;
    for line in &out.lines {
        println!("{line}");
    }
    Ok(if out.rejected() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
