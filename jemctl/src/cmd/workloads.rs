//! `jemctl workloads`: the workloads, one line each, and the benchmark each follows.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

pub fn run() -> anyhow::Result<()> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(["workload", "what it does", "follows"]);
    for w in workloads::all() {
        table.add_row([w.name, w.summary, w.follows]);
    }
    println!("{table}");
    Ok(())
}
