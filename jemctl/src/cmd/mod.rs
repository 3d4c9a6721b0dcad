//! One module per subcommand; [`run`] dispatches.

mod bench;
mod gate;
mod prof;
mod record;
mod replay;
mod replay_one;
mod report;
mod run_one;
mod sizeclasses;
mod trace;
mod workloads;

use crate::cli::{Command, TableArgs};
use crate::error::usage;
use crate::layout::{Choice, Table};

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bench(args) => bench::run(args),
        Command::Sizeclasses(args) => sizeclasses::run(args),
        Command::Workloads => workloads::run(),
        Command::Report(args) => report::run(args),
        Command::Ctl(args) => crate::ctl_cmd::run(args),
        Command::Stats(args) => crate::stats_cmd::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Prof(args) => prof::run(args),
        Command::RunOne(args) => run_one::run(args),
        Command::Record(args) => record::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Replay(args) => replay::run(args),
        Command::ReplayOne(args) => replay_one::run(args),
    }
}

/// The columns `--columns` / `--wide` choose for `table`; an unknown key is a usage error that
/// lists the keys.
pub fn table_choice(args: &TableArgs, table: &Table) -> anyhow::Result<Choice> {
    let choice = Choice::from_args(&args.columns, args.wide);
    table.check(&choice).map_err(usage)?;
    Ok(choice)
}

/// The progress bar of a command that runs for more than a second: elapsed time, steps and
/// the time left, on standard error when it is a terminal; hidden when it is not (indicatif
/// draws nothing to a pipe or file).
pub fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} ETA {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
