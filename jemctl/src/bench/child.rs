//! Running measurements in child processes: `jemctl __run-one`, one per (allocator, workload,
//! threads, repetition), so that each has its own RSS and its own copy of the allocator.
//!
//! Some libraries cannot be `dlopen`ed into a running process: Debian's `libjemalloc.so.2` uses
//! initial-exec TLS larger than the static TLS glibc keeps spare, and fails with "cannot
//! allocate memory in static TLS block". [`probe`] finds out before the runs start: it loads
//! each library in a child as it is, then with `GLIBC_TUNABLES=glibc.rtld.optional_static_tls`
//! raised (read by the dynamic loader only at process start, hence the child), then with the
//! library in `LD_PRELOAD`, and keeps the first [`Launch`] that works.

use super::sample::Sample;
use crate::allocator::AllocatorSpec;
use anyhow::{anyhow, bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Spare static TLS to ask glibc for, in bytes.
const STATIC_TLS: usize = 65536;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    Plain,
    /// With this `GLIBC_TUNABLES` value.
    Tunables(String),
    /// With the library in `LD_PRELOAD`.
    Preload,
}

impl Launch {
    pub fn describe(&self) -> String {
        match self {
            Launch::Plain => "dlopen".into(),
            Launch::Tunables(t) => format!("dlopen with GLIBC_TUNABLES={t}"),
            Launch::Preload => "LD_PRELOAD".into(),
        }
    }

    fn apply(&self, cmd: &mut Command, spec: &AllocatorSpec) {
        match self {
            Launch::Plain => {}
            Launch::Tunables(t) => {
                cmd.env("GLIBC_TUNABLES", t);
            }
            Launch::Preload => {
                if let Some(path) = spec.library_path() {
                    cmd.env("LD_PRELOAD", path);
                }
            }
        }
    }
}

fn tunables() -> String {
    let extra = format!("glibc.rtld.optional_static_tls={STATIC_TLS}");
    match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if !t.is_empty() => format!("{t}:{extra}"),
        _ => extra,
    }
}

/// `jemctl __run-one` for `spec`, run under `wrapper` (a program and its arguments) if any.
fn child(spec: &AllocatorSpec, launch: &Launch, wrapper: &[String]) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find the jemctl executable to run measurements in")?;
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.arg("__run-one").arg("--allocator").arg(spec.arg());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env("RUST_BACKTRACE", "0");
    launch.apply(&mut cmd, spec);
    Ok(cmd)
}

/// How `spec` can be loaded, and a note for the user if not as it is.
pub fn probe(spec: &AllocatorSpec) -> Result<(Launch, Option<String>)> {
    if spec.library_path().is_none() {
        return Ok((Launch::Plain, None));
    }
    let mut first_error = String::new();
    for launch in [Launch::Plain, Launch::Tunables(tunables()), Launch::Preload] {
        let out = child(spec, &launch, &[])?.arg("--probe").output().context("cannot start a jemctl child process")?;
        if out.status.success() {
            let note = (launch != Launch::Plain).then(|| {
                let reason = first_error.trim().rsplit(": ").next().unwrap_or_default().to_string();
                format!("{}: dlopen into a running process failed ({reason}); its runs used {}", spec.label(), launch.describe())
            });
            return Ok((launch, note));
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if launch == Launch::Plain {
            if !stderr.contains("static TLS") {
                bail!("{}", stderr.trim().trim_start_matches("error: "));
            }
            first_error = stderr;
        }
    }
    bail!("{}: cannot be loaded, even with more static TLS or LD_PRELOAD: {}", spec.label(), first_error.trim())
}

pub struct ChildRun<'a> {
    pub spec: &'a AllocatorSpec,
    pub launch: &'a Launch,
    pub workload: &'a str,
    pub threads: usize,
    pub duration: Option<Duration>,
    pub ops_per_thread: Option<u64>,
    pub seed: u64,
    pub sample_every: u32,
    /// A program to run the child under, with its arguments, such as
    /// `valgrind --tool=callgrind`; empty for none.
    pub wrapper: &'a [String],
}

/// Runs one measurement in a child and reads its sample.
pub fn run(r: &ChildRun<'_>) -> Result<Sample> {
    let mut cmd = child(r.spec, r.launch, r.wrapper)?;
    cmd.args(["--workload", r.workload])
        .args(["--threads", &r.threads.to_string()])
        .args(["--seed", &r.seed.to_string()])
        .args(["--sample-every", &r.sample_every.to_string()]);
    if let Some(d) = r.duration {
        cmd.args(["--duration", &d.as_secs_f64().to_string()]);
    }
    if let Some(n) = r.ops_per_thread {
        cmd.args(["--ops", &n.to_string()]);
    }
    // A run lasts its duration plus start-up; one that takes far longer is stuck.
    let limit = r.duration.filter(|_| r.wrapper.is_empty()).map(|d| d * 20 + Duration::from_secs(60));
    let out = output_within(cmd, limit)
        .with_context(|| format!("{} on {} with {} threads", r.spec.label(), r.workload, r.threads))?;
    if !out.status.success() {
        return Err(anyhow!(
            "{} on {} with {} threads failed ({}): {}",
            r.spec.label(),
            r.workload,
            r.threads,
            out.status,
            first_lines(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    serde_json::from_slice(&out.stdout).context("cannot read the child's measurement")
}

/// Like [`Command::output`], but kills the child if it runs past `limit`.
fn output_within(mut cmd: Command, limit: Option<Duration>) -> Result<std::process::Output> {
    use std::io::Read;
    use wait_timeout::ChildExt;
    let mut child = cmd.spawn().context("cannot start a jemctl child process")?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = match limit {
        Some(limit) => match child.wait_timeout(limit)? {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the child process did not finish within {} s and was killed", limit.as_secs());
            }
        },
        None => child.wait()?,
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout, stderr })
}

/// The gist of a child's error output: its first few lines, joined.
fn first_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).take(4).collect();
    lines.join(" ")
}

/// Replays a trace (`jemctl __replay-one`) on one allocator in a child and reads its sample.
pub fn replay(
    spec: &AllocatorSpec,
    launch: &Launch,
    trace: &std::path::Path,
    sample_every: u32,
    allow_truncated: bool,
) -> Result<Sample> {
    let cmd = child(spec, launch, &[])?;
    // `child` names the measurement subcommand first; the replay has its own.
    let args: Vec<std::ffi::OsString> = cmd.get_args().skip(1).map(|a| a.to_os_string()).collect();
    let mut replay = Command::new(cmd.get_program());
    replay.arg("__replay-one").args(args).arg("--trace").arg(trace).args(["--sample-every", &sample_every.to_string()]);
    if allow_truncated {
        replay.arg("--allow-truncated");
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => replay.env(k, v),
            None => replay.env_remove(k),
        };
    }
    replay.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = output_within(replay, None).with_context(|| format!("{} replaying {}", spec.label(), trace.display()))?;
    if !out.status.success() {
        return Err(anyhow!(
            "{} replaying {} failed ({}): {}",
            spec.label(),
            trace.display(),
            out.status,
            first_lines(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    serde_json::from_slice(&out.stdout).context("cannot read the child's measurement")
}
