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
    // Die quietly when a reader closes the pipe (`jemctl bench | head`), as other Unix tools
    // do, instead of panicking on the next print. Children get their own dispositions.
    // SAFETY: signal() with SIG_DFL installs no handler; no other thread exists yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cli::Cli::parse();
    layout::set_width(cli.width.map(usize::from));
    if let Err(e) = cmd::run(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(error::exit_code(&e));
    }
}
