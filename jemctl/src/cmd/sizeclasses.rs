//! `jemctl sizeclasses`: the manual's Table 1 and the bin table for a choice of options,
//! computed by the allocator's own `SizeClasses::new`, laid out for the terminal's width (the
//! lists of sizes wrap between sizes).

use crate::cli::SizeClassesArgs;
use crate::error::usage;
use crate::layout::{self, Align, Choice, Column, Table};
use jemalloc_rs::size_classes::{SizeClasses, SmallKind, PAGE};
use serde_json::json;

pub fn run(args: SizeClassesArgs) -> anyhow::Result<()> {
    let sc = SizeClasses::new(args.lg_chunk, args.lg_qspace_max, args.lg_cspace_max)
        .map_err(|e| usage(format!("{} (got --lg-chunk {} --lg-qspace-max {} --lg-cspace-max {})", e.message(), args.lg_chunk, args.lg_qspace_max, args.lg_cspace_max)))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&sc))?);
    } else {
        let width = layout::width();
        let head = format!(
            "Size classes for lg_chunk {} ({} chunks), lg_qspace_max {}, lg_cspace_max {}",
            sc.lg_chunk,
            exact(sc.chunk_size),
            sc.lg_qspace_max,
            sc.lg_cspace_max
        );
        println!("{}\n", layout::wrap(&head, width, "  ").join("\n"));
        println!("{}", table1(&sc).render(&Choice::Default, width).text);
        print!("{}", bin_table(&sc).render(&Choice::Default, width).text);
    }
    Ok(())
}

struct Row {
    category: &'static str,
    subcategory: &'static str,
    spacing: String,
    sizes: String,
}

const SMALL_KINDS: [SmallKind; 4] = [SmallKind::Tiny, SmallKind::Quantum, SmallKind::Cacheline, SmallKind::Subpage];

fn spacing(kind: SmallKind) -> &'static str {
    match kind {
        SmallKind::Tiny => "2^n",
        SmallKind::Quantum => "16 B",
        SmallKind::Cacheline => "64 B",
        SmallKind::Subpage => "256 B",
    }
}

fn small_sizes(sc: &SizeClasses, kind: SmallKind) -> Vec<usize> {
    sc.bins().iter().filter(|b| b.kind == kind).map(|b| b.reg_size as usize).collect()
}

fn rows(sc: &SizeClasses) -> Vec<Row> {
    let mut rows = Vec::new();
    for kind in SMALL_KINDS {
        let sizes = small_sizes(sc, kind);
        if sizes.is_empty() {
            continue;
        }
        let list: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
        rows.push(Row {
            category: "small",
            subcategory: kind.name(),
            spacing: spacing(kind).to_string(),
            sizes: format!("[{}]", list.join(", ")),
        });
    }
    let large: Vec<String> = [PAGE, 2 * PAGE, 3 * PAGE].iter().filter(|&&s| s < sc.arena_maxclass).map(|&s| exact(s)).collect();
    rows.push(Row {
        category: "large",
        subcategory: "",
        spacing: "4 KiB".to_string(),
        sizes: format!("[{}, ..., {}]", large.join(", "), exact(sc.arena_maxclass)),
    });
    let c = sc.chunk_size;
    rows.push(Row {
        category: "huge",
        subcategory: "",
        spacing: exact(c),
        sizes: format!("[{}, {}, {}, ...]", exact(c), exact(2 * c), exact(3 * c)),
    });
    rows
}

fn table1(sc: &SizeClasses) -> Table {
    let mut t = Table::new(vec![
        Column::new("category", "category", Align::Left).group(),
        Column::new("subcategory", "subcategory", Align::Left),
        Column::new("spacing", "spacing", Align::Right),
        Column::new("sizes", "sizes", Align::Left).wrap(),
    ]);
    for r in rows(sc) {
        t.row(vec![r.category.to_string(), r.subcategory.to_string(), r.spacing, r.sizes]);
    }
    t
}

fn bin_table(sc: &SizeClasses) -> Table {
    let mut t = Table::new(vec![
        Column::new("bin", "bin", Align::Right),
        Column::new("category", "category", Align::Left),
        Column::new("size", "size", Align::Right),
        Column::new("regions", "regions per run", Align::Right),
        Column::new("run-size", "run size", Align::Right),
    ]);
    let mut last = None;
    for (i, b) in sc.bins().iter().enumerate() {
        if last.is_some_and(|k| k != b.kind) {
            t.group_break();
        }
        last = Some(b.kind);
        t.row(vec![i.to_string(), b.kind.name().to_string(), b.reg_size.to_string(), b.nregs.to_string(), exact(b.run_size())]);
    }
    t
}

fn to_json(sc: &SizeClasses) -> serde_json::Value {
    let mut small = Vec::new();
    for kind in SMALL_KINDS {
        let sizes = small_sizes(sc, kind);
        if !sizes.is_empty() {
            small.push(json!({ "subcategory": kind.name(), "spacing": spacing(kind), "sizes": sizes }));
        }
    }
    let bins: Vec<_> = sc
        .bins()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({ "bin": i, "category": b.kind.name(), "size": b.reg_size, "regions_per_run": b.nregs,
                    "run_size": b.run_size(), "run_pages": b.run_pages })
        })
        .collect();
    json!({
        "options": { "lg_chunk": sc.lg_chunk, "lg_qspace_max": sc.lg_qspace_max, "lg_cspace_max": sc.lg_cspace_max },
        "small": small,
        "large": { "spacing": PAGE, "min": PAGE, "max": sc.arena_maxclass, "classes": sc.nlclasses },
        "huge": { "spacing": sc.chunk_size, "min": sc.chunk_size },
        "bins": bins,
    })
}

/// A size in the largest unit that divides it: 4072 KiB, 4 MiB, 3840 B.
fn exact(size: usize) -> String {
    let (shift, unit) = match size.trailing_zeros() {
        30.. => (30, "GiB"),
        20.. => (20, "MiB"),
        10.. => (10, "KiB"),
        _ => (0, "B"),
    };
    format!("{} {unit}", size >> shift)
}
