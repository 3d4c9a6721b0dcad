//! The text report of an analysed profile: totals, the top allocation sites by bytes in use
//! and by bytes allocated, and the leak summary with the backtraces that leaked.

use super::analysis::{Analysis, Site, INSIDE_ALLOCATOR};
use super::dump::{Estimate, Format, Profile, Sampling};
use crate::layout::{self, Align, Choice, Column, Table};
use crate::units;
use std::fmt::Write as _;

pub struct Options {
    /// Rows per table.
    pub top: usize,
    /// Treat what is in use as leaked (a dump written at exit) and show the leak summary.
    pub leaks: bool,
}

/// Frames shown for each leaking backtrace.
const LEAK_FRAMES: usize = 8;

pub fn render(name: &str, profile: &Profile, analysis: &Analysis, options: &Options) -> String {
    let mut out = String::new();
    let format = match profile.format {
        Format::Jemalloc2 => "jemalloc 2 format",
        Format::Jemalloc5 => "jemalloc 5 format",
    };
    let source = match profile.sampling {
        Sampling::Every => format!("{name}: {format}, every allocation recorded: the counts are exact"),
        // Scaled by 1/(1-exp(-size)): no change a count can show.
        Sampling::Rate(1) => format!("{name}: {format}, every allocation recorded (heap_v2/1): the counts are exact"),
        Sampling::Rate(rate) => format!(
            "{name}: {format}, one sample every {rate} bytes on average (heap_v2/{rate}): the counts are estimates, \
             unsampled as pprof does (each backtrace's counts x 1/(1-exp(-average object size/{rate})))"
        ),
    };
    for line in layout::wrap(&source, layout::width(), "  ") {
        let _ = writeln!(out, "{line}");
    }
    let t = &analysis.total;
    let _ = writeln!(
        out,
        "In use: {} ({} bytes) in {} objects, from {}",
        bytes(t.inuse_bytes),
        count(t.inuse_bytes),
        count(t.inuse_objects),
        plural(analysis.stacks.iter().filter(|s| s.estimate.inuse_objects > 0.0).count() as u64, "backtrace")
    );
    let accumulated = profile.has_alloc_counts();
    if accumulated {
        let _ = writeln!(
            out,
            "Allocated since the start: {} ({} bytes) in {} objects",
            bytes(t.alloc_bytes),
            count(t.alloc_bytes),
            count(t.alloc_objects)
        );
    } else {
        let _ = writeln!(out, "Allocated since the start: not recorded (the dump was written without opt.prof_accum)");
    }

    out.push_str("\nTop allocation sites by bytes in use\n");
    out.push_str(&site_table(analysis.top_sites(|e| e.inuse_bytes), options.top, t.inuse_bytes, |e| (e.inuse_bytes, e.inuse_objects)));
    if accumulated {
        out.push_str("\nTop allocation sites by bytes allocated\n");
        out.push_str(&site_table(analysis.top_sites(|e| e.alloc_bytes), options.top, t.alloc_bytes, |e| {
            (e.alloc_bytes, e.alloc_objects)
        }));
    }
    if options.leaks {
        out.push('\n');
        out.push_str(&leaks(analysis, options.top));
    }
    out
}

/// The site tables' columns: where the width is short, the objects go first, then the
/// location; the function always stays.
const SITE_COLUMNS: [Column; 5] = [
    Column::new("bytes", "bytes", Align::Right),
    Column::new("share", "share", Align::Right),
    Column::new("objects", "objects", Align::Right).yields(1),
    Column::new("function", "function", Align::Left),
    Column::new("location", "location", Align::Left).yields(2),
];

fn site_table(sites: Vec<&Site>, top: usize, total: f64, pick: impl Fn(&Estimate) -> (f64, f64)) -> String {
    if sites.is_empty() {
        return "  (none)\n".to_string();
    }
    let width = layout::width();
    let shown = &sites[..sites.len().min(top)];
    // C++ and Rust names take what the other columns leave (bytes, share and objects are at
    // most 10, 6 and 9 wide, with gaps of 2), down to a floor; where that floor leaves no room
    // for the locations, the layout leaves them and the objects out, and the names get that.
    let location = shown.iter().filter_map(|s| s.location.as_deref()).map(layout::text_width).max().unwrap_or(0);
    let budget = match width.checked_sub(10 + 6 + 9 + location + 8) {
        Some(b) if b >= MIN_FUNCTION_WIDTH => b,
        _ => width.saturating_sub(10 + 6 + 4).max(MIN_FUNCTION_WIDTH),
    };
    let mut t = Table::new(SITE_COLUMNS.to_vec());
    for s in shown {
        let (b, o) = pick(&s.estimate);
        t.row(vec![bytes(b), share(b, total), count(o), shorten(&s.function, budget), s.location.clone().unwrap_or_default()]);
    }
    let rendered = t.render(&Choice::Default, width);
    let mut out = rendered.text;
    if sites.len() > top {
        let rest: f64 = sites[top..].iter().map(|s| pick(&s.estimate).0).sum();
        let _ = writeln!(out, "and {} more sites: {} ({})", sites.len() - top, bytes(rest), share(rest, total));
    }
    if !rendered.left_out.is_empty() {
        let _ = writeln!(out, "(left out to fit {width} columns: {})", rendered.left_out.join(", "));
    }
    out
}

/// What 2.2.1 prints at exit with `opt.prof_leak` ("Leak summary: B bytes, N objects, C
/// contexts"), then the backtraces that hold it, largest first.
fn leaks(analysis: &Analysis, top: usize) -> String {
    let t = &analysis.total;
    let contexts = analysis.stacks.iter().filter(|s| s.sampled_inuse_objects != 0).count();
    if t.inuse_bytes <= 0.0 {
        return "Leak summary: no leaks, nothing allocated was in use at exit\n".to_string();
    }
    let mut out = format!(
        "Leak summary: {}, {}, {}\n",
        plural(t.inuse_bytes.round() as u64, "byte"),
        plural(t.inuse_objects.round() as u64, "object"),
        plural(contexts as u64, "context")
    );
    let mut leaking: Vec<_> = analysis.stacks.iter().filter(|s| s.estimate.inuse_bytes > 0.0).collect();
    leaking.sort_by(|a, b| b.estimate.inuse_bytes.total_cmp(&a.estimate.inuse_bytes));
    for s in leaking.iter().take(top) {
        let e = &s.estimate;
        let _ = writeln!(
            out,
            "  {} ({}) in {}, allocated at:",
            bytes(e.inuse_bytes),
            share(e.inuse_bytes, t.inuse_bytes),
            plural(e.inuse_objects.round() as u64, "object")
        );
        if s.frames.is_empty() {
            let _ = writeln!(out, "      {INSIDE_ALLOCATOR}");
        }
        for f in s.frames.iter().take(LEAK_FRAMES) {
            match f.location() {
                Some(l) => writeln!(out, "      {}  {l}", f.name()),
                None => writeln!(out, "      {}", f.name()),
            }
            .ok();
        }
        if s.frames.len() > LEAK_FRAMES {
            let _ = writeln!(out, "      ... {} more frames", s.frames.len() - LEAK_FRAMES);
        }
    }
    if leaking.len() > top {
        let _ = writeln!(out, "  and {} more leaking backtraces", leaking.len() - top);
    }
    out
}

/// The narrowest a function name is shortened to.
const MIN_FUNCTION_WIDTH: usize = 40;

/// A function name cut to `max` characters: template arguments first (`<…>`), then the start
/// of the name, since its end (the function and its parameters) says the most.
fn shorten(name: &str, max: usize) -> String {
    if layout::text_width(name) <= max {
        return name.to_string();
    }
    let mut collapsed = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => {
                if depth == 0 {
                    collapsed.push_str("<…");
                }
                depth += 1;
            }
            '>' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    collapsed.push('>');
                }
            }
            _ if depth == 0 => collapsed.push(c),
            _ => {}
        }
    }
    let n = layout::text_width(&collapsed);
    if n <= max {
        return collapsed;
    }
    let tail: String = collapsed.chars().skip(n + 1 - max).collect();
    format!("…{tail}")
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn bytes(b: f64) -> String {
    units::bytes(b.round().max(0.0) as u64)
}

fn count(n: f64) -> String {
    format!("{}", n.round().max(0.0) as u64)
}

fn share(part: f64, total: f64) -> String {
    if total > 0.0 {
        format!("{:.1}%", 100.0 * part / total)
    } else {
        "-".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_names_lose_template_arguments_then_their_start() {
        let name = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_construct(unsigned long, char)";
        assert_eq!(shorten(name, 200), name);
        assert_eq!(shorten(name, 70), "std::__cxx11::basic_string<…>::_M_construct(unsigned long, char)");
        let short = shorten(name, 40);
        assert_eq!(short.chars().count(), 40);
        assert!(short.starts_with('…') && short.ends_with("_M_construct(unsigned long, char)"), "{short}");
        // An operator's angle brackets are not a template's.
        assert_eq!(shorten("operator<<(int)", 5).chars().count(), 5);
    }
}
