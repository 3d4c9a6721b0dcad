//! `jemctl trace FILE [--json]`: what a recorded trace says about its program, as text or
//! JSON, and a chart of live bytes over its calls (SVG, beside the trace).

use crate::cli::TraceArgs;
use crate::trace::{self, analysis::Summary, chart};
use crate::units;
use anyhow::Result;
use std::path::PathBuf;

pub fn run(args: TraceArgs) -> Result<()> {
    let loaded = trace::load(&args.file, args.allow_truncated)?;
    let summary = trace::analysis::analyse(&loaded.trace, &loaded.objects);
    let svg = args.svg.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".svg");
        PathBuf::from(p)
    });
    let chart_note = match chart::live_bytes(&summary, &svg) {
        Ok(()) => format!("live bytes over the trace: {}", svg.display()),
        Err(e) => format!("no chart: cannot write {}: {e:#}", svg.display()),
    };
    let out = if args.json {
        eprintln!("{chart_note}");
        serde_json::to_string_pretty(&summary)? + "\n"
    } else {
        format!("{}{chart_note}\n", text(&summary))
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn text(s: &Summary) -> String {
    let mut o = String::new();
    let line = |o: &mut String, t: String| {
        o.push_str(&t);
        o.push('\n');
    };
    line(
        &mut o,
        format!(
            "{} (pid {}, {} {}): {} calls on {} thread(s) over {:.1} ms",
            s.program,
            s.pid,
            if s.forked_child { "forked from" } else { "parent" },
            s.ppid,
            s.calls,
            s.threads.len(),
            s.duration_ms
        ),
    );
    if let Some(t) = &s.truncated {
        line(&mut o, format!("TRUNCATED: {t}; what follows is the complete events before the cut"));
    }
    line(
        &mut o,
        format!(
            "trace: {} used ({} file), {:.2} bytes per call",
            units::bytes(s.used_bytes),
            units::bytes(s.file_bytes),
            s.bytes_per_call
        ),
    );
    line(&mut o, "\ncalls by kind:".into());
    for k in &s.calls_by_kind {
        line(&mut o, format!("  {:<16} {:>12}  {:5.1}%", k.kind, k.calls, pct(k.calls, s.calls)));
    }
    line(&mut o, "\nthreads:".into());
    for t in s.threads.iter().take(16) {
        line(&mut o, format!("  thread {:<4} tid {:<8} {:>12} calls", t.thread, t.tid, t.calls));
    }
    if s.threads.len() > 16 {
        line(&mut o, format!("  ... and {} more", s.threads.len() - 16));
    }
    line(
        &mut o,
        format!(
            "\nlive bytes: peak {} ({} B) at call {} (about {:.1} ms in); {} in {} objects never freed",
            units::bytes(s.peak_live_bytes),
            s.peak_live_bytes,
            s.peak_at_call,
            s.peak_at_ms,
            units::bytes(s.live_bytes_at_end),
            s.live_objects_at_end
        ),
    );
    line(&mut o, format!("objects: {}, {} requested in all", s.objects, units::bytes(s.requested_bytes)));
    line(&mut o, "\nrequest sizes:".into());
    let max = s.size_histogram.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    for b in &s.size_histogram {
        let bar = "#".repeat(((b.count as f64 / max as f64) * 40.0).ceil() as usize);
        line(&mut o, format!("  {:>10} - {:<10} {:>12}  {bar}", units::bytes(b.min), units::bytes(b.max), b.count));
    }
    line(&mut o, "\njemalloc 2.2.1 size classes (default options):".into());
    for (cat, n) in &s.size_classes.by_category {
        if *n > 0 {
            line(&mut o, format!("  {cat:<18} {n:>12}  {:5.1}%", pct(*n, s.objects)));
        }
    }
    let top: Vec<String> = s.size_classes.top_classes.iter().take(10).map(|(c, n)| format!("{c} B x{n}")).collect();
    line(&mut o, format!("  busiest classes: {}", top.join(", ")));
    line(
        &mut o,
        format!(
            "  rounding up to the classes wastes {:.1}% of the bytes",
            100.0 * s.size_classes.internal_fragmentation
        ),
    );
    let l = &s.lifetimes;
    line(
        &mut o,
        format!(
            "\nlifetimes (calls between allocation and free): p50 {}, p90 {}, p99 {}, max {}; {:.1}% freed within 16 calls",
            l.p50_calls,
            l.p90_calls,
            l.p99_calls,
            l.max_calls,
            pct(l.short_lived, l.freed)
        ),
    );
    line(
        &mut o,
        format!("cross-thread frees: {} ({:.1}% of frees)", s.cross_thread_frees, pct(s.cross_thread_frees, l.freed)),
    );
    if s.unknown_frees + s.failed_allocations + s.reused_while_live > 0 {
        line(
            &mut o,
            format!(
                "not replayable: {} frees of addresses the trace never allocated, {} failed allocations, {} addresses reused while live",
                s.unknown_frees, s.failed_allocations, s.reused_while_live
            ),
        );
    }
    o
}
