//! `jemctl ctl`: read, write and list the mallctl namespace of the allocator this process runs
//! on (jemctl's global allocator is `jemalloc_rs::Jemalloc`, so these are its own statistics).
//!
//! `NAME` prints the value with its C type (pointers as the address and the value it points
//! at, `arenas.initialized` as its array); `NAME=VALUE` writes; `--list [PREFIX]` prints the
//! tree with types and access; `--threads N` / `--workload W` first run a workload in this
//! process so that statistics are not zero; `--json` prints JSON. A `mallctl()` error exits
//! non-zero with the manual's words for it and what to do. `NAME... -- PROGRAM ARGS` reads the
//! names in a program instead (see [`crate::program`]).

use crate::cli::CtlArgs;
use crate::error::usage;
use anyhow::{anyhow, bail, Result};
use jemalloc_rs::ctl::tree::{Access, CType};
use jemalloc_rs::ctl::typed::{self, Mib};
use jemalloc_rs::ctl::{self, Error, Info};
use serde_json::{json, Value as Json};
use std::ffi::{CStr, CString};

pub fn run(args: CtlArgs) -> Result<()> {
    if let Some(prefix) = &args.list {
        return list(prefix, args.json);
    }
    if args.names.is_empty() {
        return Err(usage("give a NAME to read, NAME=VALUE to write, or --list (see `jemctl ctl --help`)"));
    }
    if !args.program.is_empty() {
        return in_program(&args);
    }
    run_workload_first(args.threads, args.workload.as_deref())?;
    // Statistics are read from the snapshot the epoch refreshes.
    typed::epoch::advance().map_err(|e| mallctl_error("epoch", e))?;
    let mut results = Vec::new();
    for arg in &args.names {
        let entry = match arg.split_once('=') {
            Some((name, value)) => write(name, value)?,
            None => read(arg)?,
        };
        if !args.json {
            // Printed as it happens, so a later failure does not hide what was done.
            println!("{}: {}", entry.name, entry.text);
        }
        results.push(entry);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Json::Array(results.iter().map(Entry::to_json).collect()))?);
    }
    Ok(())
}

/// `jemctl ctl NAME... -- PROGRAM ARGS`: the names as the program sees them, when it exits
/// (and every `--every` seconds, each line prefixed with the time); exits as the program did.
fn in_program(args: &CtlArgs) -> Result<()> {
    if let Some(w) = args.names.iter().find(|n| n.contains('=')) {
        return Err(usage(format!("'{w}': a program's names can be read, not written")));
    }
    let request = crate::program::Request {
        names: &args.names,
        stats: None,
        every: args.every.map(std::time::Duration::from_secs_f64),
    };
    let mut missing = Vec::new();
    let code = crate::program::run(&args.program, &request, &mut |report| {
        for line in &report.lines {
            if report.reason == "exit" {
                println!("{line}");
            } else {
                println!("[{:.1} s] {line}", report.at);
            }
            if line.contains(": error ENOENT") && report.reason == "exit" {
                missing.push(line.split(':').next().unwrap_or_default().to_string());
            }
        }
    })?;
    if !missing.is_empty() {
        eprintln!(
            "jemctl: {} {} not exist in {}: see `jemctl ctl --list` for the names, and \
             `jemctl ctl arenas.initialized -- PROGRAM` for the arenas it used",
            missing.join(", "),
            if missing.len() == 1 { "does" } else { "do" },
            args.program[0]
        );
    }
    crate::program::exit_with(code)
}

/// The workload `--threads` alone runs.
const DEFAULT_WORKLOAD: &str = "larson";
/// Allocator calls each workload thread makes before the statistics are read: a count rather
/// than a time, so that every thread allocates (and so binds an arena) even on a loaded machine.
const WORKLOAD_OPS: u64 = 50_000;

/// Runs a workload in this process, through this allocator, when `--threads` or `--workload`
/// asks for one (threads default to the CPUs, the workload to larson).
pub fn run_workload_first(threads: Option<usize>, workload: Option<&str>) -> Result<()> {
    if threads.is_none() && workload.is_none() {
        return Ok(());
    }
    let name = workload.unwrap_or(DEFAULT_WORKLOAD);
    let w =
        workloads::find(name).ok_or_else(|| usage(format!("unknown workload '{name}' (see `jemctl workloads`)")))?;
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    use jemalloc_rs::api;
    let table = workloads::AllocTable {
        malloc: api::malloc,
        free: api::free,
        realloc: api::realloc,
        calloc: api::calloc,
        posix_memalign: api::posix_memalign,
        malloc_usable_size: Some(api::malloc_usable_size),
    };
    let params =
        workloads::RunParams { threads, duration: None, ops_per_thread: Some(WORKLOAD_OPS), seed: 1, sample_every: 0 };
    workloads::run(w, table, &params, &workloads::Clock::calibrate());
    Ok(())
}

/// One name's outcome: how to print it and its JSON.
struct Entry {
    name: String,
    info: Info,
    text: String,
    value: Json,
}

impl Entry {
    fn to_json(&self) -> Json {
        json!({
            "name": self.name,
            "type": self.info.ty.c_name(),
            "access": self.info.access.code(),
            "value": self.value,
        })
    }
}

fn mallctl_error(name: &str, e: Error) -> anyhow::Error {
    let text = format!("mallctl(\"{name}\"): {}", e.describe());
    if e == Error::NoEnt {
        usage(format!("{text}\n{}", explain_noent(name)))
    } else {
        anyhow!(text)
    }
}

/// The `<i>`-th dot-separated component of `name`, when it is a number.
fn index_at(name: &str, position: usize) -> Option<usize> {
    name.split('.').nth(position).and_then(|c| c.parse().ok())
}

/// Why a name is unknown, and what to do: an arena that does not exist or was never used in
/// this process (and how to get one), a bin or large-run index out of range, or a name that
/// is not in the tree.
fn explain_noent(name: &str) -> String {
    let narenas = typed::arenas::narenas::read().unwrap_or(0) as usize;
    let range = |what: &str, n: usize, source: &str| {
        format!("{what} go from 0 to {} ({source}); see `jemctl ctl --list {}`", n.saturating_sub(1), template_prefix(name))
    };
    if name.starts_with("stats.arenas.") {
        if let Some(i) = index_at(name, 2) {
            let initialized = initialized_arenas();
            let used = initialized.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
            if i > narenas {
                return format!(
                    "arena {i} does not exist: this process has {narenas} arenas (0 to {}; MALLOC_CONF=narenas:N \
                     sets how many), and stats.arenas.{narenas} is their sum.",
                    narenas.saturating_sub(1)
                );
            }
            if i < narenas && !initialized.contains(&i) {
                let only = if initialized.len() == 1 { format!("arena {used} has") } else { format!("arenas {used} have") };
                return format!(
                    "arena {i} has not been used in this process: only {only} (arenas.initialized), and \
                     stats.arenas.{narenas} is their sum. A thread takes an unused arena when it first allocates, so \
                     run threads first: `jemctl ctl --threads {} {name}` (or --workload W), or read a real \
                     program's arenas: `jemctl ctl {name} -- PROGRAM ARGS`.",
                    (i + 1).max(initialized.len() + 1),
                );
            }
            let nbins = typed::arenas::nbins::read().unwrap_or(0) as usize;
            let nlruns = typed::arenas::nlruns::read().unwrap_or(0);
            if name.split('.').nth(3) == Some("bins") && index_at(name, 4).is_some_and(|j| j >= nbins) {
                return range("bins", nbins, "arenas.nbins");
            }
            if name.split('.').nth(3) == Some("lruns") && index_at(name, 4).is_some_and(|j| j >= nlruns) {
                return range("large run classes", nlruns, "arenas.nlruns");
            }
        }
    }
    if name.starts_with("arenas.bin.") && index_at(name, 2).is_some() {
        return range("bins", typed::arenas::nbins::read().unwrap_or(0) as usize, "arenas.nbins");
    }
    if name.starts_with("arenas.lrun.") && index_at(name, 2).is_some() {
        return range("large run classes", typed::arenas::nlruns::read().unwrap_or(0), "arenas.nlruns");
    }
    format!("no such name; see `jemctl ctl --list {}` for the names there", template_prefix(name))
}

/// The longest prefix of `name` that `--list` knows, for the hint.
fn template_prefix(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    for n in (1..parts.len()).rev() {
        let prefix = parts[..n].join(".");
        let mut found = false;
        ctl::walk(&mut |template, _| found |= under(template, &prefix));
        if found {
            return prefix;
        }
    }
    String::new()
}

/// The arenas this process has used (`arenas.initialized`).
fn initialized_arenas() -> Vec<usize> {
    let n = typed::arenas::narenas::read().unwrap_or(0) as usize;
    let mut bytes = vec![0u8; n];
    let ok = Mib::new(c"arenas.initialized").and_then(|m| m.read_bytes(&mut bytes)).is_ok();
    if !ok {
        return Vec::new();
    }
    bytes.iter().enumerate().filter(|(_, &b)| b != 0).map(|(i, _)| i).collect()
}

fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| usage(format!("'{name}' contains a NUL byte")))
}

fn info(name: &str) -> Result<Info> {
    ctl::describe(name.as_bytes()).map_err(|e| mallctl_error(name, e))
}

fn read(name: &str) -> Result<Entry> {
    let info = info(name)?;
    let cname = c_name(name)?;
    let err = |e| mallctl_error(name, e);
    let (text, value) = match info.ty {
        CType::Void => {
            typed::call(&cname).map_err(err)?;
            ("done".to_string(), Json::Null)
        }
        _ if info.access == Access::WriteOnly => {
            // A write-only name without a value: the call with no value (arenas.purge: all).
            typed::call(&cname).map_err(err)?;
            ("done".to_string(), Json::Null)
        }
        CType::Bool => {
            let v: bool = typed::read(&cname).map_err(err)?;
            (v.to_string(), json!(v))
        }
        CType::Size => number(typed::read::<usize>(&cname).map_err(err)? as u64),
        CType::Ssize => {
            let v: isize = typed::read(&cname).map_err(err)?;
            (v.to_string(), json!(v))
        }
        CType::Unsigned | CType::U32 => number(typed::read::<u32>(&cname).map_err(err)? as u64),
        CType::U64 => number(typed::read::<u64>(&cname).map_err(err)?),
        CType::Str => {
            let p: *const std::ffi::c_char = typed::read(&cname).map_err(err)?;
            let s = if p.is_null() {
                String::new()
            } else {
                // SAFETY: string names point at static NUL-terminated text.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            };
            (s.clone(), json!(s))
        }
        CType::SizePtr => {
            let p: *const usize = typed::read(&cname).map_err(err)?;
            // SAFETY: size_t * names point at live counters of the allocator (stats.cactive, an
            // atomic, is read atomically).
            let v = unsafe { (*p.cast::<std::sync::atomic::AtomicUsize>()).load(std::sync::atomic::Ordering::Relaxed) };
            pointer(p as usize, v as u64)
        }
        CType::U64Ptr => {
            let p: *const u64 = typed::read(&cname).map_err(err)?;
            // SAFETY: uint64_t * names point at this thread's live counters.
            let v = unsafe { p.read_volatile() };
            pointer(p as usize, v)
        }
        CType::BoolArray => {
            let n = typed::arenas::narenas::read().map_err(err)? as usize;
            let mut flags = vec![false; n];
            let mut bytes = vec![0u8; n];
            Mib::new(&cname).map_err(err)?.read_bytes(&mut bytes).map_err(err)?;
            for (f, b) in flags.iter_mut().zip(&bytes) {
                *f = *b != 0;
            }
            let text = flags.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ");
            (format!("[{text}]"), json!(flags))
        }
        CType::IntArray => {
            let n: usize = typed::read(c"swap.nfds").map_err(err)?;
            let mut fds = vec![0i32; n];
            typed::swap::fds(&mut fds).map_err(err)?;
            let text = fds.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ");
            (format!("[{text}]"), json!(fds))
        }
    };
    Ok(Entry { name: name.to_string(), info, text, value })
}

fn number(v: u64) -> (String, Json) {
    (v.to_string(), json!(v))
}

fn pointer(address: usize, value: u64) -> (String, Json) {
    (format!("{address:#x} -> {value}"), json!({ "address": format!("{address:#x}"), "value": value }))
}

fn parse<T: std::str::FromStr>(name: &str, value: &str, ty: CType) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| usage(format!("'{value}' is not a {} value for {name}", ty.c_name())))
}

fn write(name: &str, value: &str) -> Result<Entry> {
    let info = info(name)?;
    let cname = c_name(name)?;
    let err = |e| mallctl_error(name, e);
    if matches!(info.access, Access::ReadOnly | Access::None) {
        return Err(mallctl_error(name, Error::Perm));
    }
    let rw = info.access == Access::ReadWrite;
    macro_rules! put {
        ($t:ty) => {{
            let v: $t = parse(name, value, info.ty)?;
            if rw {
                let old = typed::update(&cname, v).map_err(err)?;
                (format!("{old} -> {v}"), json!({ "old": old, "new": v }))
            } else {
                typed::write(&cname, v).map_err(err)?;
                (v.to_string(), json!({ "new": v }))
            }
        }};
    }
    let (text, value) = match info.ty {
        CType::Bool => put!(bool),
        CType::Size => put!(usize),
        CType::Ssize => put!(isize),
        CType::Unsigned | CType::U32 => put!(u32),
        CType::U64 => put!(u64),
        other => bail!("{name} is a {} name; jemctl cannot write it", other.c_name()),
    };
    let (text, value) = if name == "epoch" {
        // The epoch's interesting value is the one after the refresh.
        let now = typed::epoch::read().map_err(err)?;
        (now.to_string(), json!(now))
    } else {
        (text, value)
    };
    Ok(Entry { name: name.to_string(), info, text, value })
}

/// Whether `name` (a template with `<i>`/`<j>` components) lies under `prefix`, whose index
/// components are numbers.
fn under(name: &str, prefix: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let (n, p): (Vec<&str>, Vec<&str>) = (name.split('.').collect(), prefix.trim_end_matches('.').split('.').collect());
    p.len() <= n.len()
        && n.iter()
            .zip(&p)
            .all(|(t, q)| t == q || (t.starts_with('<') && !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit())))
}

fn list(prefix: &str, json_out: bool) -> Result<()> {
    let mut rows = Vec::new();
    ctl::walk(&mut |name, info| {
        if under(name, prefix) {
            rows.push((name.to_string(), info));
        }
    });
    if rows.is_empty() {
        return Err(usage(format!("no mallctl names under '{prefix}' (see `jemctl ctl --list`)")));
    }
    if json_out {
        let v: Vec<Json> =
            rows.iter().map(|(n, i)| json!({ "name": n, "type": i.ty.c_name(), "access": i.access.code() })).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (n, i) in &rows {
        println!("{n:<width$}  {:<12}  {}", i.ty.c_name(), i.access.code());
    }
    println!();
    let (nbins, nlruns, narenas) = (
        typed::arenas::nbins::read().unwrap_or(0),
        typed::arenas::nlruns::read().unwrap_or(0),
        typed::arenas::narenas::read().unwrap_or(0),
    );
    println!("<i> of arenas.bin and <j> of stats.arenas.<i>.bins: 0..{} (arenas.nbins)", nbins.saturating_sub(1));
    println!("<i> of arenas.lrun and <j> of stats.arenas.<i>.lruns: 0..{} (arenas.nlruns)", nlruns.saturating_sub(1));
    println!(
        "<i> of stats.arenas: the initialized arenas below {narenas} (arenas.initialized), and {narenas} for their sum"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn prefixes_match_templates_by_component() {
        assert!(under("stats.arenas.<i>.pactive", ""));
        assert!(under("stats.arenas.<i>.pactive", "stats"));
        assert!(under("stats.arenas.<i>.pactive", "stats.arenas.4"));
        assert!(under("stats.arenas.<i>.pactive", "stats.arenas.4."));
        assert!(!under("stats.arenas.<i>.pactive", "stats.arenas.x"));
        assert!(!under("stats.allocated", "stats.all"));
        assert!(!under("opt.abort", "stats"));
    }
}
