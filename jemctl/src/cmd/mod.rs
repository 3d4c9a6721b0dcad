//! One module per subcommand; [`run`] dispatches.

mod bench;
mod gate;
mod report;
mod run_one;
mod sizeclasses;
mod workloads;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bench(args) => bench::run(args),
        Command::Sizeclasses(args) => sizeclasses::run(args),
        Command::Workloads => workloads::run(),
        Command::Report(args) => report::run(args),
        Command::Ctl(args) => crate::ctl_cmd::run(args),
        Command::Stats(args) => crate::stats_cmd::run(args),
        Command::Gate(args) => gate::run(args),
        Command::RunOne(args) => run_one::run(args),
    }
}
