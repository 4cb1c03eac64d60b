//! `signal-edge`: the thin binary. It reads its arguments and hands the work to the library
//! crates. Today it has `map`, a dry run of the Pendo mapping; `serve` and `demo` come with the
//! gateway, the spool and the delivery engine (see ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use lexopt::prelude::*;
use signal_core::{
    Blueprint, IntegrationConfig, Mapped, Mapper, MemoryIdentity, Parser, Shape, links_of,
};
use std::io::Read as _;
use std::process::ExitCode;

const HELP: &str = "\
signal-edge: Segment-compatible events in, Pendo requests out.

Usage:
  signal-edge map [--config JSON] [FILE]   Validate a body (one event or a batch) from FILE or
                                           stdin and print, per event, the Pendo request it
                                           becomes, why it is dropped, or what is wrong with it.
  signal-edge serve | demo                 Not in this build yet (see ARCHITECTURE.md).
  signal-edge --help | --version

--config takes the integration's config as JSON, e.g. '{\"api_key\":\"k\",\"integration_key\":\"i\"}'.
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
            Long("config") => config = args.value()?.string()?,
            Value(v) if command.is_none() => command = Some(v.string()?),
            Value(v) if file.is_none() => file = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    match command.as_deref().unwrap_or("serve") {
        "map" => dry_run(file.as_deref(), &config),
        "serve" | "demo" => {
            eprintln!(
                "signal-edge: `serve` and `demo` are not in this build yet; try `signal-edge map`"
            );
            Ok(ExitCode::from(69))
        }
        other => Err(format!("unknown command `{other}`; see --help").into()),
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
        .map_err(|e| format!("--config: {e}"))?;
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
        for link in links_of(&ev, &bp.metadata.link_trait) {
            ids.record(&link);
        }
        let mapping = mapper.map(&ev, &ids, now);
        match mapping.outcome {
            Mapped::Track { body, .. } => println!(
                "[{i}] POST {}: {}",
                bp.track.path,
                String::from_utf8_lossy(body)
            ),
            Mapped::Metadata(r) => {
                let path = match r.kind {
                    signal_core::MetadataKind::Visitor => &bp.metadata.visitor.path,
                    signal_core::MetadataKind::Account => &bp.metadata.account.path,
                };
                println!("[{i}] POST {path}: [{}]", String::from_utf8_lossy(r.body));
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
