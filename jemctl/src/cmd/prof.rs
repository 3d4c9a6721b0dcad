//! `jemctl prof -- PROGRAM ARGS...`: runs the program with `libjemalloc_rs.so` (or Debian's
//! jemalloc) preloaded and its heap profiler on through `MALLOC_CONF`, passes its standard
//! streams and exit status through, then reports from the dump it wrote at exit: the top
//! allocation sites by bytes in use and allocated, the leak summary with `--leaks`, and flame
//! graphs beside the raw `.heap` files in `--out`. The report goes to stderr, since stdout is
//! the program's.
//!
//! `jemctl prof show FILE.heap`: the same report, on stdout, from a dump already written.

use crate::allocator;
use crate::cli::{ProfAllocator, ProfArgs, ProfCommand, ProfShowArgs};
use crate::error::usage;
use crate::prof::{self, report};
use anyhow::{anyhow, bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

/// The name part of `prof_prefix`: dumps are `<DIR>/jeprof.<pid>.<seq>.<kind>.heap`.
const PREFIX: &str = "jeprof";

pub fn run(args: ProfArgs) -> Result<()> {
    if let Some(ProfCommand::Show(show_args)) = args.command {
        return show(show_args);
    }
    let library = match args.allocator {
        ProfAllocator::JemallocRs => allocator::own_so()?,
        ProfAllocator::Jemalloc => allocator::find_peer("libjemalloc.so.2")
            .ok_or_else(|| anyhow!("libjemalloc.so.2 not found; install it with `apt-get install libjemalloc2`"))?,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    // The program may change directory; the prefix must not.
    let dir = args.out.canonicalize().with_context(|| format!("cannot find {}", args.out.display()))?;
    let conf = malloc_conf(args.allocator, &dir, args.sample, args.leaks)?;

    let (program, program_args) = args.program.split_first().ok_or_else(|| usage("give the PROGRAM to run"))?;
    let mut command = std::process::Command::new(program);
    command.args(program_args);
    command.env("LD_PRELOAD", preload(&library));
    command.env("MALLOC_CONF", conf);
    let started = std::time::SystemTime::now();
    let mut child = command.spawn().with_context(|| format!("cannot run {}", Path::new(program).display()))?;
    let status = {
        let _guard = IgnoreInterrupts::new();
        child.wait().with_context(|| format!("waiting for {}", Path::new(program).display()))?
    };
    let code = exit_code(status);

    let result = report_run(&dir, child.id(), started, &args, program);
    match (result, code) {
        (Ok(()), 0) => Ok(()),
        (Ok(()), code) => exit(code),
        (Err(e), 0) => Err(e),
        (Err(e), code) => {
            eprintln!("error: {e:#}");
            exit(code)
        }
    }
}

fn exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// The options that turn the profiler on, after the user's own `MALLOC_CONF` (the later
/// setting of an option wins, so these do).
fn malloc_conf(allocator: ProfAllocator, dir: &Path, lg_sample: u32, leaks: bool) -> Result<String> {
    let dir = dir.to_str().ok_or_else(|| usage(format!("--out {} is not valid UTF-8", dir.display())))?;
    if dir.contains([',', ':']) {
        return Err(usage(format!("--out {dir} contains ',' or ':', which MALLOC_CONF cannot carry; choose another directory")));
    }
    let mut conf = format!("prof:true,prof_accum:true,lg_prof_sample:{lg_sample},prof_prefix:{dir}/{PREFIX}");
    if allocator == ProfAllocator::Jemalloc {
        // jemalloc 5 writes the final dump only when asked; 2.2.1 always does.
        conf.push_str(",prof_final:true");
    }
    if leaks {
        conf.push_str(",prof_leak:true");
    }
    Ok(match std::env::var("MALLOC_CONF") {
        Ok(user) if !user.is_empty() => format!("{user},{conf}"),
        _ => conf,
    })
}

/// The library first in `LD_PRELOAD`, before any the user preloads already.
fn preload(library: &Path) -> OsString {
    let mut value = library.as_os_str().to_os_string();
    if let Some(user) = std::env::var_os("LD_PRELOAD").filter(|u| !u.is_empty()) {
        value.push(":");
        value.push(user);
    }
    value
}

/// The status a shell would report: the exit code, or 128 plus the signal that killed it.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// While the program runs, an interrupt from the terminal is for it: jemctl stays to report
/// on what it dumped.
struct IgnoreInterrupts {
    previous: [libc::sighandler_t; 2],
}

const INTERRUPTS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGQUIT];

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        // SAFETY: SIG_IGN is a valid disposition for these signals; the child was already
        // started, so it does not inherit it.
        let previous = INTERRUPTS.map(|s| unsafe { libc::signal(s, libc::SIG_IGN) });
        IgnoreInterrupts { previous }
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        for (s, h) in INTERRUPTS.iter().zip(self.previous) {
            // SAFETY: restores the disposition that signal() returned for the same signal.
            unsafe { libc::signal(*s, h) };
        }
    }
}

/// A dump's name parsed: `jeprof.<pid>.<seq>.<kind>.heap`.
#[derive(Debug, PartialEq, Eq)]
struct DumpName {
    pid: u32,
    seq: u64,
    final_dump: bool,
}

fn dump_name(file_name: &str) -> Option<DumpName> {
    let rest = file_name.strip_prefix(PREFIX)?.strip_prefix('.')?.strip_suffix(".heap")?;
    let mut parts = rest.split('.');
    let pid = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    if parts.next().is_some() || kind.is_empty() {
        return None;
    }
    Some(DumpName { pid, seq, final_dump: kind == "f" })
}

/// The program's dump to report on: its final one, else its latest. A program that ran its
/// work in child processes leaves only theirs: the latest written since `started` is taken.
fn pick_dump(dir: &Path, pid: u32, started: SystemTime) -> Result<(PathBuf, Option<String>)> {
    let mut dumps = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str().and_then(dump_name) {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            dumps.push((name, modified, entry.path()));
        }
    }
    let rank = |d: &(DumpName, Option<SystemTime>, PathBuf)| (d.0.final_dump, d.0.seq);
    if let Some(own) = dumps.iter().filter(|d| d.0.pid == pid).max_by_key(|d| rank(d)) {
        return Ok((own.2.clone(), None));
    }
    match dumps.iter().filter(|d| d.1.is_some_and(|m| m >= started)).max_by_key(|d| (d.1, rank(d))) {
        Some(other) => Ok((
            other.2.clone(),
            Some(format!("process {pid} wrote no dump; this one is process {}'s, the latest in the directory", other.0.pid)),
        )),
        None => bail!(
            "the program wrote no heap profile into {}. It writes one when it exits normally (through exit() or main \
             returning; not when killed by a signal, through _exit(), or when it never calls the preloaded malloc, \
             as a statically linked program does), and only if the allocator has its profiler (config.prof)",
            dir.display()
        ),
    }
}

fn report_run(dir: &Path, pid: u32, started: SystemTime, args: &ProfArgs, program: &OsString) -> Result<()> {
    let (dump, note) = pick_dump(dir, pid, started)?;
    let loaded = with_spinner(&format!("reading {} and the debug information of {}", file_name(&dump), Path::new(program).display()), || {
        prof::load(&dump, None)
    })?;
    let mut text = loaded.report(&report::Options { top: args.top as usize, leaks: args.leaks });
    if let Some(note) = note {
        text.push_str(&format!("note: {note}\n"));
    }
    let stem = file_name(&dump).trim_end_matches(".heap").to_string();
    let written = loaded.write_flame_graphs(dir, &stem)?;
    let report_file = dir.join(format!("{stem}.txt"));
    std::fs::write(&report_file, &text).with_context(|| format!("cannot write {}", report_file.display()))?;
    eprint!("\n{text}");
    eprintln!("wrote {}, {} and the dump {}", report_file.display(), describe(&written), dump.display());
    Ok(())
}

fn show(args: ProfShowArgs) -> Result<()> {
    let loaded = with_spinner(&format!("reading {} and the debug information it names", file_name(&args.file)), || {
        prof::load(&args.file, args.binary.as_deref())
    })?;
    print!("{}", loaded.report(&report::Options { top: args.top as usize, leaks: args.leaks }));
    let dir = args.out.clone().unwrap_or_else(|| args.file.parent().map(Path::to_path_buf).unwrap_or_default());
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stem = file_name(&args.file).trim_end_matches(".heap").to_string();
    let written = loaded.write_flame_graphs(&dir, &stem)?;
    eprintln!("wrote {}", describe(&written));
    Ok(())
}

fn describe(flame_graphs: &[PathBuf]) -> String {
    if flame_graphs.is_empty() {
        "no flame graph (no bytes to draw)".to_string()
    } else {
        flame_graphs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Runs `work` with a spinner on stderr when it is a terminal (symbolising a large program
/// takes seconds).
fn with_spinner<T>(message: &str, work: impl FnOnce() -> T) -> T {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    let result = work();
    bar.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_follow_the_manual() {
        assert_eq!(dump_name("jeprof.123.0.f.heap"), Some(DumpName { pid: 123, seq: 0, final_dump: true }));
        assert_eq!(dump_name("jeprof.9.4.i2.heap"), Some(DumpName { pid: 9, seq: 4, final_dump: false }));
        assert_eq!(dump_name("jeprof.9.4.f.inuse.svg"), None);
        assert_eq!(dump_name("jeprof.9.f.heap"), None);
        assert_eq!(dump_name("other.9.4.f.heap"), None);
    }

    #[test]
    fn conf_turns_profiling_on_after_the_users_options() {
        let c = malloc_conf(ProfAllocator::JemallocRs, Path::new("/tmp/p"), 19, true).unwrap();
        assert!(c.ends_with("prof:true,prof_accum:true,lg_prof_sample:19,prof_prefix:/tmp/p/jeprof,prof_leak:true"), "{c}");
        assert!(!c.contains("prof_final"));
        let c = malloc_conf(ProfAllocator::Jemalloc, Path::new("/tmp/p"), 0, false).unwrap();
        assert!(c.contains("prof_final:true") && !c.contains("prof_leak"));
        let e = malloc_conf(ProfAllocator::JemallocRs, Path::new("/tmp/a:b"), 0, false).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
    }
}
