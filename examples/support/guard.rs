//! What the two callgrind guards (`perf_guard`: the hot path; `path_guard`: the whole path)
//! share: counting the instructions of one measured mode of the guard's own executable under
//! `valgrind --tool=callgrind`, reading the recorded ratio, and the verdict.
//!
//! A guard's executable, run as `<guard> run <mode>`, does one measured thing and exits; the
//! parent runs it under callgrind once per mode (`setup`, the guarded code, the baseline), so
//! every count is deterministic for a given binary and input, whatever else the machine is
//! doing. The setup every mode shares is counted on its own and subtracted.

use std::fmt;
use std::path::Path;
use std::process::{Command, ExitCode};

/// A guarded ratio may rise this much before CI fails.
pub const TOLERANCE: f64 = 1.10;

/// Why a guard could not measure.
#[derive(Debug)]
pub enum GuardError {
    /// valgrind could not be started (not installed?).
    Valgrind(std::io::Error),
    /// valgrind ran, but the measured mode failed; its stderr.
    Failed(String),
    /// A file (callgrind's output, the ratio file) could not be read or written.
    File(String, std::io::Error),
    /// callgrind's output has no instruction count.
    NoCount,
    /// The recorded ratio file does not hold a number.
    BadRatio(String),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Valgrind(e) => write!(f, "valgrind: {e} (install valgrind)"),
            GuardError::Failed(stderr) => write!(f, "valgrind failed: {stderr}"),
            GuardError::File(path, e) => write!(f, "{path}: {e}"),
            GuardError::NoCount => f.write_str("no instruction count in callgrind's output"),
            GuardError::BadRatio(path) => write!(f, "{path} is missing or not a number"),
        }
    }
}

/// Instructions executed by `<exe> run <mode>`, counted by callgrind.
///
/// # Errors
///
/// valgrind is missing or the mode failed, or callgrind's output cannot be read.
pub fn instructions(exe: &Path, mode: &str) -> Result<u64, GuardError> {
    let dir = std::env::temp_dir().join(format!("callgrind-guard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| GuardError::File(dir.display().to_string(), e))?;
    let out_file = dir.join(format!("callgrind.{mode}"));
    let run = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .args(["run", mode])
        .output()
        .map_err(GuardError::Valgrind)?;
    if !run.status.success() {
        return Err(GuardError::Failed(
            String::from_utf8_lossy(&run.stderr).into_owned(),
        ));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| GuardError::File(out_file.display().to_string(), e))?;
    let _ = std::fs::remove_dir_all(&dir);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or(GuardError::NoCount)
}

/// The ratio recorded in `file` (a path relative to the workspace root, e.g.
/// `.ci/perf-guard-ratio`).
///
/// # Errors
///
/// [`GuardError::BadRatio`] when it is missing or not a number.
pub fn recorded_ratio(file: &str) -> Result<f64, GuardError> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| GuardError::BadRatio(path.display().to_string()))
}

/// Counts `setup`, `guarded` and `baseline` of this executable; returns the guarded and the
/// baseline counts with the setup subtracted.
///
/// # Errors
///
/// As [`instructions`].
pub fn measure(guarded: &str, baseline: &str) -> Result<(u64, u64), GuardError> {
    let exe = std::env::current_exe().map_err(|e| GuardError::File("own executable".into(), e))?;
    let setup = instructions(&exe, "setup")?;
    let ours = instructions(&exe, guarded)?;
    let base = instructions(&exe, baseline)?;
    Ok((ours.saturating_sub(setup), base.saturating_sub(setup)))
}

/// What a guard measured, and what it is held to.
pub struct Verdict<'a> {
    /// The guard's name in its output lines (`perf guard`, `path guard`).
    pub name: &'a str,
    /// What is guarded, in the failure line (`the hot path`).
    pub what: &'a str,
    /// Events measured (the counts are shown per event).
    pub events: usize,
    /// The guarded code's instructions, setup subtracted.
    pub ours: u64,
    /// The baseline's instructions, setup subtracted.
    pub base: u64,
    /// The recorded ratio.
    pub expected: f64,
}

impl Verdict<'_> {
    /// Prints the counts and the ratio; fails when the ratio is more than [`TOLERANCE`] over
    /// the recorded one.
    pub fn report(&self) -> ExitCode {
        let Verdict {
            name,
            what,
            events,
            ours,
            base,
            expected,
        } = *self;
        let ratio = ours as f64 / base as f64;
        println!(
            "{name}: {events} events; signal-edge {ours} instructions ({:.0}/event), serde_json baseline {base} ({:.0}/event)",
            ours as f64 / events as f64,
            base as f64 / events as f64
        );
        println!(
            "{name}: ratio {ratio:.4}, expected {expected:.4}, limit {:.4} (+10%)",
            expected * TOLERANCE
        );
        if ratio > expected * TOLERANCE {
            eprintln!(
                "{name}: FAILED: {what} costs {:.1}% more than expected relative to the baseline",
                (ratio / expected - 1.0) * 100.0
            );
            return ExitCode::FAILURE;
        }
        println!("{name}: ok");
        ExitCode::SUCCESS
    }
}

/// The guard's entry: `<guard> run <mode>` runs `run(mode)` (what valgrind measures); with no
/// arguments, measures `guarded` and `baseline` against the ratio in `ratio_file`.
pub fn main(
    name: &str,
    what: &str,
    events: usize,
    ratio_file: &str,
    (guarded, baseline): (&str, &str),
    run: impl FnOnce(&str),
) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run") {
        run(args.get(2).map_or(guarded, String::as_str));
        return ExitCode::SUCCESS;
    }
    let measured = recorded_ratio(ratio_file)
        .and_then(|expected| measure(guarded, baseline).map(|(ours, base)| (ours, base, expected)));
    match measured {
        Ok((ours, base, expected)) => Verdict {
            name,
            what,
            events,
            ours,
            base,
            expected,
        }
        .report(),
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
