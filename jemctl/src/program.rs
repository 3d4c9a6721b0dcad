//! Reading a real program: run it with `libjemalloc_rs.so` preloaded and collect the reports
//! the library writes to a descriptor it is given (the library's `report_*` options, see
//! `jemalloc_rs::report`), at exit and every `--every` seconds. The program's standard
//! streams are its own and its exit status becomes jemctl's; its output is never parsed.

use crate::allocator;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// What to ask the library for.
pub struct Request<'a> {
    pub names: &'a [String],
    /// The statistics report, with these opts characters.
    pub stats: Option<&'a str>,
    pub every: Option<Duration>,
}

/// One report of the program's own process.
pub struct Report {
    /// "exit" or "interval".
    pub reason: String,
    /// Seconds since the program started.
    pub at: f64,
    pub lines: Vec<String>,
}

/// The lowest descriptor the report pipe is given in the program: high, so that a program
/// that opens files keeps its usual numbers.
const REPORT_FD_MIN: i32 = 200;

/// The options that make the library report `request` to `fd`, after the user's own.
fn malloc_conf(user: Option<&str>, request: &Request<'_>, fd: i32) -> String {
    let mut conf: Vec<String> = user.filter(|u| !u.is_empty()).map(str::to_string).into_iter().collect();
    conf.push(format!("report_fd:{fd}"));
    if !request.names.is_empty() {
        conf.push(format!("report_names:{}", request.names.join(";")));
    }
    if let Some(opts) = request.stats {
        conf.push("report_stats:true".into());
        if !opts.is_empty() {
            conf.push(format!("report_stats_opts:{opts}"));
        }
    }
    if let Some(every) = request.every {
        conf.push(format!("report_interval_ms:{}", every.as_millis().max(1)));
    }
    conf.join(",")
}

/// Runs `program`, hands each of its reports to `on_report` as it arrives, and returns the
/// exit code jemctl should exit with: the program's, or 128 + the signal that ended it.
pub fn run(program: &[String], request: &Request<'_>, on_report: &mut dyn FnMut(&Report)) -> Result<i32> {
    let so = allocator::own_so()?;
    if let Some(bad) = request.names.iter().find(|n| n.is_empty() || !n.bytes().all(|b| b == b'.' || b == b'_' || b.is_ascii_alphanumeric())) {
        bail!(crate::error::usage(format!("'{bad}' is not a mallctl name")));
    }
    let (read_end, write_end) = report_pipe()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&write_end);
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", so.display()),
        _ => so.display().to_string(),
    };
    let mut command = Command::new(&program[0]);
    command
        .args(&program[1..])
        .env("LD_PRELOAD", preload)
        .env("MALLOC_CONF", malloc_conf(std::env::var("MALLOC_CONF").ok().as_deref(), request, fd));
    // SAFETY: the closure only calls fcntl, which is async-signal-safe, on a descriptor this
    // process owns, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("cannot run {}", program[0]))?;
    drop(write_end);
    let pid = child.id();
    let exited = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let reader = {
        let exited = Arc::clone(&exited);
        std::thread::spawn(move || read_reports(read_end, pid, started, &exited, &tx))
    };
    let seen_exit = AtomicBool::new(false);
    let mut deliver = |report: Report| {
        if report.reason == "exit" {
            seen_exit.store(true, Ordering::Relaxed);
        }
        on_report(&report);
    };
    let status = loop {
        while let Ok(report) = rx.try_recv() {
            deliver(report);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(report) = rx.recv_timeout(Duration::from_millis(50)) {
            deliver(report);
        }
    };
    exited.store(true, Ordering::Release);
    let _ = reader.join();
    let mut at_exit = false;
    while let Ok(report) = rx.try_recv() {
        at_exit |= report.reason == "exit";
        on_report(&report);
    }
    if !at_exit && !seen_exit.load(Ordering::Relaxed) {
        eprintln!(
            "jemctl: {} made no report at exit: it never allocated through libjemalloc_rs.so, ended without \
             calling exit() (a signal, _exit), or closed descriptor {fd}",
            program[0]
        );
    }
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Ends jemctl with the program's exit code, once what was printed is flushed.
pub fn exit_with(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// A pipe whose write end is at [`REPORT_FD_MIN`] or above; both ends close on exec (the
/// child clears the flag on its copy).
fn report_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot create the report pipe");
    }
    // SAFETY: the descriptors were just created and are owned by nothing else.
    let (read_end, low) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: duplicates a descriptor we own.
    let high = unsafe { libc::fcntl(fds[1], libc::F_DUPFD_CLOEXEC, REPORT_FD_MIN) };
    if high < 0 {
        return Ok((read_end, low));
    }
    drop(low);
    // SAFETY: `high` is a new descriptor owned by nothing else.
    Ok((read_end, unsafe { OwnedFd::from_raw_fd(high) }))
}

/// Reads `PID begin SEQ REASON`, `PID | TEXT` and `PID end SEQ` lines, keeps those of `pid`
/// (a child of the program inherits the descriptor and reports with its own pid) and sends
/// each complete report. Stops at end of file, or once the program has exited and nothing is
/// left to read (a daemon it started may hold the pipe open).
fn read_reports(fd: OwnedFd, pid: u32, started: Instant, exited: &AtomicBool, tx: &mpsc::Sender<Report>) {
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let mut reader = BufReader::new(std::fs::File::from(fd));
    let prefix = format!("{pid} ");
    let mut current: Option<Report> = None;
    let mut line = String::new();
    loop {
        if reader.buffer().is_empty() {
            let mut p = libc::pollfd { fd: raw, events: libc::POLLIN, revents: 0 };
            // SAFETY: polls one descriptor we own.
            let ready = unsafe { libc::poll(&mut p, 1, 100) };
            if ready == 0 {
                if exited.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(rest) = line.trim_end_matches('\n').strip_prefix(&prefix) else { continue };
        if let Some(text) = rest.strip_prefix("| ").or_else(|| (rest == "|").then_some("")) {
            if let Some(r) = current.as_mut() {
                r.lines.push(text.to_string());
            }
        } else if let Some(head) = rest.strip_prefix("begin ") {
            let reason = head.split_whitespace().nth(1).unwrap_or("exit").to_string();
            current = Some(Report { reason, at: started.elapsed().as_secs_f64(), lines: Vec::new() });
        } else if rest.starts_with("end ") {
            if let Some(r) = current.take() {
                if tx.send(r).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_users_own() {
        let names = vec!["stats.allocated".to_string(), "version".to_string()];
        let r = Request { names: &names, stats: Some("ab"), every: Some(Duration::from_millis(1500)) };
        assert_eq!(
            malloc_conf(Some("narenas:2"), &r, 201),
            "narenas:2,report_fd:201,report_names:stats.allocated;version,report_stats:true,\
             report_stats_opts:ab,report_interval_ms:1500"
        );
        let r = Request { names: &[], stats: Some(""), every: None };
        assert_eq!(malloc_conf(None, &r, 3), "report_fd:3,report_stats:true");
    }
}
