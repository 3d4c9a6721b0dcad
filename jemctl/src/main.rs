//! jemctl: the jemalloc-rs workbench.

mod allocator;
mod bench;
mod cli;
mod cmd;
mod ctl_cmd;
mod error;
mod export;
mod gate;
mod layout;
mod machine;
mod prof;
mod program;
mod stats_cmd;
mod trace;
mod units;

use clap::Parser;

#[global_allocator]
static GLOBAL: jemalloc_rs::Jemalloc = jemalloc_rs::Jemalloc;

fn main() {
    let cli = cli::Cli::parse();
    layout::set_width(cli.width.map(usize::from));
    if let Err(e) = cmd::run(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(error::exit_code(&e));
    }
}
