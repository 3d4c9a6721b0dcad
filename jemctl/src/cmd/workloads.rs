//! `jemctl workloads`: the workloads, one row each, and the benchmark each follows, fitted to
//! the terminal's width (descriptions wrap between words).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ColumnConstraint, ContentArrangement, Table};

pub fn run() -> anyhow::Result<()> {
    println!("{}", table(crate::layout::width()));
    Ok(())
}

fn table(width: usize) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(["workload", "what it does", "follows"]);
    for w in workloads::all() {
        table.add_row([w.name, w.summary, w.follows]);
    }
    if let Some(names) = table.column_mut(0) {
        names.set_constraint(ColumnConstraint::ContentWidth);
    }
    table
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_fits_80_and_120_columns_and_names_every_workload_whole() {
        for width in [80, 120] {
            let text = super::table(width).to_string();
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{} columns at {width}:\n{text}", line.chars().count());
            }
            for w in workloads::all() {
                assert!(text.lines().any(|l| l.contains(&format!(" {} ", w.name))), "{} cut at {width}:\n{text}", w.name);
            }
        }
    }
}
