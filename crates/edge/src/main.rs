//! `signal-edge`: the thin binary. It reads its arguments, resolves the settings (exit 64 naming
//! a bad one), starts logging, and hands the work to `signal-server`: `serve` (the default),
//! `demo`, or `map` (a dry run of the Pendo mapping). SIGTERM and SIGINT stop it gracefully.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use lexopt::prelude::*;
use signal_core::{
    Blueprint, IntegrationConfig, Mapped, Mapper, MemoryIdentity, Parser, Shape, links_of,
};
use signal_server::{Flags, Node, Settings};
use std::io::Read as _;
use std::process::ExitCode;

const HELP: &str = "\
signal-edge: Segment-compatible events in, Pendo requests out.

Usage:
  signal-edge [serve] [OPTIONS]   The ingestion gateway, delivery and the management API.
  signal-edge demo [OPTIONS]      serve, plus a Pendo sandbox on loopback, the Pendo integration
                                  installed against it, and a stream of sample events.
  signal-edge loadgen [--clients N] [--batch N] [--rate EVENTS_PER_S] [--seconds N]
                  [--deliver] [--json FILE]
                                  Drive a node (run in this process, with the Pendo sandbox as
                                  Pendo) with the realistic mix; report accepted events/s, ack
                                  latency, delivered requests/s, end-to-end latency, memory.
  signal-edge map [--integration JSON] [FILE]
                                  Validate a body (one event or a batch) from FILE or stdin and
                                  print, per event, the Pendo request it becomes, why it is
                                  dropped, or what is wrong with it.
  signal-edge --help | --version

Options (flag > environment > signal.toml > default):
  --config PATH        signal.toml
  --data-dir DIR       SIGNAL_DATA_DIR     ./signal-data
  --ingest-addr ADDR   SIGNAL_INGEST_ADDR  0.0.0.0:8080
  --admin-addr ADDR    SIGNAL_ADMIN_ADDR   127.0.0.1:8084
  --log LEVEL          SIGNAL_LOG          info (JSON lines when not on a terminal)
Also read from the environment: SIGNAL_ADMIN_TOKEN, SIGNAL_PIPELINE_KEY, SIGNAL_PIPELINE_SECRET,
SIGNAL_PENDO_BASE_URL_{US,EU,US1,JPN,AU}, SIGNAL_RETRY_BASE_MS, SIGNAL_RETRY_CAP_MS,
SIGNAL_RETRY_MAX_ATTEMPTS, SIGNAL_SOURCE_RATE_LIMIT, SIGNAL_PAUSE_PROBE_MS, and
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
The admin token, pipeline key and pipeline secret not set are kept in files in the data
directory (admin-token, pipeline-key, pipeline-secret), generated on first start; an empty one
is generated anew; one that cannot be read stops the start.
";

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
    let mut config = String::from(r#"{"api_key":"dry-run","integration_key":"dry-run"}"#);
    let mut flags = Flags::default();
    let mut load = signal_server::loadgen::LoadOptions {
        clients: 16,
        batch: 100,
        rate: None,
        duration: std::time::Duration::from_secs(30),
        deliver: false,
        json: None,
    };
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
            Long("integration") => config = args.value()?.string()?,
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
            Long("json") => load.json = Some(args.value()?.string()?.into()),
            Value(v) if command.is_none() => command = Some(v.string()?),
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let command = command.unwrap_or_else(|| "serve".into());
    if command == "map" {
        return dry_run(file.as_deref(), &config);
    }
    if command == "loadgen" {
        init_logging(flags.log.as_deref().unwrap_or("warn"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return Ok(match runtime.block_on(signal_server::loadgen::run(load)) {
            Ok(_) => ExitCode::SUCCESS,
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
            return match signal_server::demo::run(settings, rate, shutdown_signal()).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("signal-edge: {e}");
                    Ok(ExitCode::from(64))
                }
            };
        }
        let (node, generated) = match Node::start(settings).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("signal-edge: {e}");
                return Ok(ExitCode::from(64));
            }
        };
        if let Some(t) = generated.admin_token {
            println!("admin token (saved in the data directory, shown once): {t}");
        }
        if let Some(k) = generated.pipeline_key {
            println!("pipeline key of the default source (shown once): {k}");
        }
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

fn dry_run(file: Option<&str>, config: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut body = Vec::new();
    match file {
        Some(path) => body = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
        None => {
            std::io::stdin().read_to_end(&mut body)?;
        }
    }
    let bp = Blueprint::get("pendo").ok_or("the pendo blueprint is missing")?;
    let config: serde_json::Value =
        serde_json::from_str(config).map_err(|e| format!("--config: not JSON: {e}"))?;
    let (config, variant) = IntegrationConfig::validate_install(bp, None, None, &config)
        .map_err(|e| format!("--integration: {e}"))?;
    let mut mapper = Mapper::new(bp, variant, config);
    let mut ids = MemoryIdentity::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut parser = Parser::new();
    let doc = match parser.parse(&mut body, Shape::EventOrBatch) {
        Ok(doc) => doc,
        Err(e) => {
            println!("rejected {}: {e}", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    let mut failed = false;
    for (i, event) in doc.events().enumerate() {
        let ev = match event {
            Ok(ev) => ev,
            Err(e) => {
                failed = true;
                println!("[{i}] rejected {}: {e}", e.code());
                continue;
            }
        };
        // Events in one body see the links the earlier ones make, as they would in the node.
        for link in links_of(&ev, bp.link_trait().unwrap_or_default()) {
            ids.record(&link);
        }
        let mapping = mapper.map(&ev, &ids, now);
        match mapping.outcome {
            Mapped::Send(items) => {
                for item in items.iter() {
                    let Some((_, spec)) = bp.requests.iter().nth(item.request) else {
                        continue;
                    };
                    let path = spec.url.trim_start_matches("{region.base}");
                    let body = String::from_utf8_lossy(item.body);
                    if spec.batch.is_some() {
                        println!("[{i}] {} {path}: [{body}]", spec.method.as_str());
                    } else {
                        println!("[{i}] {} {path}: {body}", spec.method.as_str());
                    }
                }
            }
            Mapped::Dropped(reason) => println!("[{i}] dropped: {reason}"),
        }
        for w in mapping.warnings {
            println!("[{i}]   warning {}: {w}", w.code());
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
