//! `jemctl record -o FILE -- PROGRAM ARGS...`: runs the program with `libjemctl_recorder.so`
//! preloaded and `JEMCTL_TRACE=FILE`, so that each of its allocator calls lands in the trace
//! (children in `FILE.<pid>`, one trace each). The program's input, output and exit status
//! pass through: jemctl exits with the program's status (128 + the signal if it was killed)
//! and says what it recorded on stderr.

use crate::cli::RecordArgs;
use crate::error::usage;
use crate::trace::format;
use anyhow::{bail, Context, Result};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const RECORDER_SO: &str = "libjemctl_recorder.so";

pub fn run(args: RecordArgs) -> Result<()> {
    let recorder = recorder_so()?;
    let output = absolute(&args.output)?;
    clear_old_traces(&output)?;
    let (program, rest) = args.command.split_first().ok_or_else(|| usage("give the program to record after --"))?;
    let preload = match std::env::var_os("LD_PRELOAD") {
        Some(p) if !p.is_empty() => {
            let mut s = recorder.clone().into_os_string();
            s.push(":");
            s.push(p);
            s
        }
        _ => recorder.clone().into_os_string(),
    };
    let mut child = Command::new(program)
        .args(rest)
        .env("LD_PRELOAD", preload)
        .env("JEMCTL_TRACE", &output)
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    // The terminal's Ctrl-C and Ctrl-\ are the program's to handle; jemctl reports after it.
    // SAFETY: setting signal dispositions to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let status = child.wait().context("cannot wait for the program")?;
    report(&output);
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => {
            eprintln!("jemctl record: the program was killed by signal {sig}; its trace holds the calls up to then");
            128 + sig
        }
        _ => 1,
    };
    std::process::exit(code);
}

/// Says what was recorded: the main trace and each child's, with their sizes.
fn report(output: &Path) {
    let mut traces = vec![output.to_path_buf()];
    traces.extend(child_traces(output));
    for (i, path) in traces.iter().enumerate() {
        match format::survey(path) {
            Ok(t) => {
                let calls = t.events;
                let per_call = if calls > 0 { t.used_bytes as f64 / calls as f64 } else { 0.0 };
                eprintln!(
                    "jemctl record: {} {}: {} ({}{}), {calls} calls on {} thread(s), {:.1} bytes/call",
                    if i == 0 { "wrote" } else { "  child" },
                    path.display(),
                    t.program,
                    if t.forked { "forked from " } else { "parent " },
                    t.ppid,
                    t.threads,
                    per_call
                );
            }
            Err(e) if i == 0 && !path.exists() => {
                eprintln!("jemctl record: no trace was written ({e:#}): is the program statically linked, or setuid?");
            }
            Err(e) => eprintln!("jemctl record: {}: {e:#}", path.display()),
        }
    }
    if traces.len() > 1 {
        eprintln!("jemctl record: {} child trace(s); analyse one with `jemctl trace FILE`", traces.len() - 1);
    }
}

/// `FILE.<pid>[.<n>]` traces beside `output`.
fn child_traces(output: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(base)) = (output.parent(), output.file_name()) else { return Vec::new() };
    let prefix = format!("{}.", base.to_string_lossy());
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&prefix)?;
            let key: Option<Vec<u64>> = rest.split('.').map(|p| p.parse().ok()).collect();
            Some((key?, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn is_trace(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"JEMTRACE"
}

/// Removes an earlier trace at `output` and its children's; refuses to overwrite anything else.
fn clear_old_traces(output: &Path) -> Result<()> {
    if output.exists() {
        if !is_trace(output) {
            return Err(usage(format!("{} exists and is not a trace; choose another -o FILE", output.display())));
        }
        std::fs::remove_file(output).with_context(|| format!("cannot replace {}", output.display()))?;
    }
    for child in child_traces(output) {
        if is_trace(&child) {
            std::fs::remove_file(&child).with_context(|| format!("cannot remove the old {}", child.display()))?;
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) };
    if abs.parent().is_some_and(|d| !d.is_dir()) {
        return Err(usage(format!("the directory of {} does not exist", p.display())));
    }
    Ok(abs)
}

/// `$JEMCTL_RECORDER`, else `libjemctl_recorder.so` beside this executable or in the release
/// directory of the same target directory.
pub fn recorder_so() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("JEMCTL_RECORDER") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("JEMCTL_RECORDER={} is not a file", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot find the jemctl executable")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates =
        [dir.join(RECORDER_SO), dir.join("..").join(RECORDER_SO), dir.join("../../release").join(RECORDER_SO)];
    let found = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "{RECORDER_SO} not found next to {}; build it with `cargo build --release -p jemctl_recorder` (same target directory) or set JEMCTL_RECORDER to its path",
            exe.display()
        )
    })?;
    Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()))
}
