//! `jemctl stats`: the allocator's `malloc_stats_print()` report for this process, optionally
//! after a workload has run in it (`--threads N`, `--workload W`). `--opts` passes the manual's
//! characters that leave parts out: g (general), m (merged arenas), a (each arena), b (bins),
//! l (large runs). `jemctl stats -- PROGRAM ARGS` prints the report of a program instead (see
//! [`crate::program`]), at its exit and every `--every` seconds.

use crate::cli::StatsArgs;
use crate::error::usage;
use anyhow::Result;
use std::ffi::{c_char, c_void, CStr, CString};

/// Appends one piece of the report to the `String` behind `opaque`. It runs with no allocator
/// lock held, so it may allocate.
unsafe extern "C" fn append(opaque: *mut c_void, s: *const c_char) {
    // SAFETY: `report` passes a live &mut String as opaque and the report passes C strings.
    unsafe { (*opaque.cast::<String>()).push_str(&CStr::from_ptr(s).to_string_lossy()) };
}

/// The report as text.
pub fn report(opts: &str) -> Result<String> {
    let opts = CString::new(opts).map_err(|_| usage("--opts contains a NUL byte"))?;
    let mut out = String::new();
    // SAFETY: `append` matches the callback signature and `out` outlives the call.
    unsafe {
        jemalloc_rs::stats_print::malloc_stats_print(Some(append), (&mut out as *mut String).cast(), opts.as_ptr())
    };
    Ok(out)
}

pub fn run(args: StatsArgs) -> Result<()> {
    if let Some(bad) = args.opts.chars().find(|c| !"gmabl".contains(*c)) {
        return Err(usage(format!("--opts takes the characters g, m, a, b and l, not '{bad}'")));
    }
    if !args.program.is_empty() {
        let request = crate::program::Request {
            names: &[],
            stats: Some(&args.opts),
            every: args.every.map(std::time::Duration::from_secs_f64),
        };
        let code = crate::program::run(&args.program, &request, &mut |report| {
            if report.reason != "exit" {
                println!("--- {} after {:.1} s ---", args.program[0], report.at);
            }
            for line in &report.lines {
                println!("{line}");
            }
        })?;
        crate::program::exit_with(code);
    }
    crate::ctl_cmd::run_workload_first(args.threads, args.workload.as_deref())?;
    print!("{}", report(&args.opts)?);
    Ok(())
}
