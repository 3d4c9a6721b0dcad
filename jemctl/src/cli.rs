//! The command line, as clap derive structs. Each subcommand is one variant of [`Command`]
//! and one module under `cmd/`.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "jemctl", version, about = "The jemalloc-rs workbench: benchmark, inspect and gate memory allocators")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Fit tables and notes to this many columns (default: $COLUMNS, else the terminal's, else 100)
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(20..))]
    pub width: Option<u16>,
}

/// How terminal tables choose their columns (see `crate::layout`).
#[derive(Args, Debug, Clone, Default)]
pub struct TableArgs {
    /// Columns to show, in order, comma-separated or repeated (an unknown key lists them)
    #[arg(long, value_name = "KEY[,KEY...]", conflicts_with = "wide")]
    pub columns: Vec<String>,

    /// Show every column, however wide the table gets
    #[arg(long)]
    pub wide: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Benchmark allocators on the workloads, side by side
    Bench(BenchArgs),
    /// Print the size classes (the manual's Table 1) and the bin table
    Sizeclasses(SizeClassesArgs),
    /// List the workloads
    Workloads,
    /// Render a saved benchmark (JSON) as a table, a markdown file and SVG charts
    Report(ReportArgs),
    /// Read, write or list the allocator's mallctl namespace, in jemctl or in a program
    /// (`jemctl ctl NAME -- PROGRAM ARGS`)
    Ctl(CtlArgs),
    /// Print the allocator's malloc_stats_print() report, of jemctl or of a program
    /// (`jemctl stats -- PROGRAM ARGS`)
    Stats(StatsArgs),
    /// Run a short, fixed suite on an allocator and compare it with the committed baseline;
    /// exit 1 if it regressed
    Gate(GateArgs),
    /// Run a program under the heap profiler and report which code holds and leaks memory;
    /// `jemctl prof show FILE.heap` reports on an existing dump
    Prof(ProfArgs),
    /// Run one allocator on one workload and print the measurement as JSON (used by bench)
    #[command(name = "__run-one", hide = true)]
    RunOne(RunOneArgs),
    /// Run a program and record its allocator calls to a trace file
    Record(RecordArgs),
    /// Analyse a recorded trace: calls, threads, peak live bytes, sizes, lifetimes
    Trace(TraceArgs),
    /// Replay a recorded trace on allocators, side by side
    Replay(ReplayArgs),
    /// Replay a trace on one allocator and print the measurement as JSON (used by replay)
    #[command(name = "__replay-one", hide = true)]
    ReplayOne(ReplayOneArgs),
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The trace file to write; children get FILE.<pid>
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// The program to run, and its arguments (after --)
    #[arg(value_name = "PROGRAM", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A trace written by `jemctl record`
    pub file: PathBuf,

    /// Print the analysis as JSON
    #[arg(long)]
    pub json: bool,

    /// Where to write the chart of live bytes (default: FILE.svg beside the trace)
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,

    /// Read a trace whose file was cut short, up to its last complete event
    #[arg(long)]
    pub allow_truncated: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `jemctl record`
    pub file: PathBuf,

    /// Allocator to replay on, repeatable: as `jemctl bench --allocator` (default: all found)
    #[arg(short, long = "allocator", value_name = "SPEC")]
    pub allocators: Vec<String>,

    /// Repetitions; allocators are interleaved within each, and the median is reported
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Time about one allocator call in K for the latency histogram
    #[arg(long, value_name = "K", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub sample_every: u32,

    /// Write the results as JSON (the bench schema) to PATH
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write the results as a markdown table to PATH
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,

    /// Replay a trace whose file was cut short, up to its last complete event
    #[arg(long)]
    pub allow_truncated: bool,

    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Args, Debug)]
pub struct ReplayOneArgs {
    #[arg(long)]
    pub allocator: String,
    #[arg(long)]
    pub trace: PathBuf,
    #[arg(long, default_value_t = 16)]
    pub sample_every: u32,
    #[arg(long)]
    pub allow_truncated: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Allocator to measure, repeatable: jemalloc-rs, jemalloc-rs-so, system, jemalloc,
    /// mimalloc, tcmalloc, or a shared library's path, optionally PATH:PREFIX for prefixed
    /// symbols (je_malloc). Default: all of the named ones that are found
    #[arg(short, long = "allocator", value_name = "SPEC")]
    pub allocators: Vec<String>,

    /// Workload to run, repeatable (default: all; see `jemctl workloads`)
    #[arg(short, long = "workload", value_name = "NAME", value_parser = workload_name)]
    pub workloads: Vec<String>,

    /// Thread counts, comma-separated for a sweep: 1,2,4,16 (default: the number of CPUs)
    #[arg(short, long, value_name = "N[,N...]", value_parser = thread_list)]
    pub threads: Option<ThreadList>,

    /// Seconds each run lasts (default 1, or 0.1 with --quick)
    #[arg(long, value_name = "SECONDS", conflicts_with = "ops", value_parser = positive_seconds)]
    pub duration: Option<f64>,

    /// Allocator calls per thread instead of a duration
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,

    /// Repetitions; allocators are interleaved within each, and the median is reported
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Short runs: the whole default set in well under a minute
    #[arg(long)]
    pub quick: bool,

    /// Seed of every workload's random choices
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Time about one allocator call in K for the latency histogram
    #[arg(long, value_name = "K", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub sample_every: u32,

    /// Write the results as JSON to PATH
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write the results as a markdown table to PATH
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,

    /// Save the JSON under the results directory, named by date and machine
    #[arg(long)]
    pub save: bool,

    /// Where --save writes
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,

    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Clone, Debug)]
pub struct ThreadList(pub Vec<usize>);

fn thread_list(s: &str) -> Result<ThreadList, String> {
    let list: Result<Vec<usize>, _> = s.split(',').map(|t| t.trim().parse::<usize>()).collect();
    match list {
        Ok(l) if !l.is_empty() && l.iter().all(|&n| (1..=1024).contains(&n)) => Ok(ThreadList(l)),
        _ => Err(format!("'{s}' is not a list of thread counts between 1 and 1024, like 1,2,4")),
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

fn workload_name(s: &str) -> Result<String, String> {
    if workloads::find(s).is_some() {
        Ok(s.to_string())
    } else {
        let names: Vec<&str> = workloads::all().iter().map(|w| w.name).collect();
        Err(format!("unknown workload '{s}'; the workloads are: {} (see `jemctl workloads`)", names.join(", ")))
    }
}

#[derive(Args, Debug)]
pub struct SizeClassesArgs {
    /// log2 of the chunk size (opt.lg_chunk)
    #[arg(long, value_name = "N", default_value_t = jemalloc_rs::size_classes::DEFAULT_LG_CHUNK)]
    pub lg_chunk: u32,
    /// log2 of the largest quantum-spaced class (opt.lg_qspace_max)
    #[arg(long, value_name = "N", default_value_t = jemalloc_rs::size_classes::DEFAULT_LG_QSPACE_MAX)]
    pub lg_qspace_max: u32,
    /// log2 of the largest cacheline-spaced class (opt.lg_cspace_max)
    #[arg(long, value_name = "N", default_value_t = jemalloc_rs::size_classes::DEFAULT_LG_CSPACE_MAX)]
    pub lg_cspace_max: u32,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// NAME to read (pointers print their address and the value there), NAME=VALUE to write;
    /// several may be given
    #[arg(value_name = "NAME[=VALUE]")]
    pub names: Vec<String>,

    /// List the names (under PREFIX, such as stats.arenas.0) with their types and access
    #[arg(long, value_name = "PREFIX", num_args = 0..=1, default_missing_value = "", conflicts_with = "names")]
    pub list: Option<String>,

    /// First run a workload on N threads in this process, so that statistics are not zero
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,

    /// The workload --threads runs (default larson; see `jemctl workloads`)
    #[arg(long, value_name = "NAME", value_parser = workload_name)]
    pub workload: Option<String>,

    /// Print JSON
    #[arg(long, conflicts_with = "program")]
    pub json: bool,

    /// With a PROGRAM: also read the names every SECONDS while it runs
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds, requires = "program")]
    pub every: Option<f64>,

    /// Read the names in PROGRAM, not in jemctl: run it with libjemalloc_rs.so preloaded and
    /// read them when it exits; its output and exit status pass through
    #[arg(last = true, value_name = "PROGRAM ARGS", conflicts_with_all = ["list", "threads", "workload"])]
    pub program: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Leave parts out: g general, m merged arenas, a each arena, b bins, l large runs
    #[arg(long, value_name = "CHARS", default_value = "")]
    pub opts: String,

    /// First run a workload on N threads in this process, so that statistics are not zero
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,

    /// The workload --threads runs (default larson; see `jemctl workloads`)
    #[arg(long, value_name = "NAME", value_parser = workload_name)]
    pub workload: Option<String>,

    /// With a PROGRAM: also print the report every SECONDS while it runs
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds, requires = "program")]
    pub every: Option<f64>,

    /// Report on PROGRAM, not on jemctl: run it with libjemalloc_rs.so preloaded and print its
    /// report when it exits; its output and exit status pass through
    #[arg(last = true, value_name = "PROGRAM ARGS", conflicts_with_all = ["threads", "workload"])]
    pub program: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A JSON file written by `jemctl bench --json` or `--save`, or by `jemctl gate --json`
    pub file: PathBuf,
    /// Also write one self-contained HTML page (inline CSS and SVG) with the machine, the
    /// command, the charts, the tables and, for a gate run, its verdicts
    #[arg(long)]
    pub html: bool,
    /// Where to write the markdown and SVG files (default: beside the JSON file)
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Args, Debug)]
pub struct GateArgs {
    /// The baseline to compare with, and to write with --update
    #[arg(long, value_name = "PATH", default_value = "results/baseline.json")]
    pub baseline: PathBuf,

    /// The allocator to gate: any spec `jemctl bench --allocator` takes, such as the path of
    /// a shared library
    #[arg(long, value_name = "SPEC", default_value = "jemalloc-rs")]
    pub candidate: String,

    /// Allowed change in percent, for every figure instead of each metric's own
    #[arg(long, value_name = "PCT", value_parser = tolerance_pct)]
    pub tolerance: Option<f64>,

    /// time: speed relative to the C library's malloc in the same run, and memory;
    /// instructions: instruction counts under valgrind's callgrind, whatever the machine's
    /// load; all: both
    #[arg(long, value_enum, default_value_t = GateMode::Time)]
    pub mode: GateMode,

    /// Write this run's figures as the new baseline, with the machine and the date
    #[arg(long)]
    pub update: bool,

    /// With --update: keep, for this kind of machine, each time figure's worse of the old
    /// baseline's and this run's value, so that hosts of one kind that differ all meet it
    #[arg(long, requires = "update")]
    pub widen: bool,

    /// Run only these workloads of the suite, repeatable
    #[arg(short, long = "workload", value_name = "NAME", value_parser = workload_name)]
    pub workloads: Vec<String>,

    /// Repetitions of the time suite: more are steadier, and slower
    #[arg(long, value_name = "K", default_value_t = 7, value_parser = clap::value_parser!(u32).range(3..=101))]
    pub repeat: u32,

    /// Write the comparison as JSON to PATH
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write the comparison as markdown to PATH (such as $GITHUB_STEP_SUMMARY)
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,

    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GateMode {
    Time,
    Instructions,
    All,
}

fn tolerance_pct(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("'{s}' is not a percentage between 0 and 1000, like 15")),
    }
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProfArgs {
    #[command(subcommand)]
    pub command: Option<ProfCommand>,

    /// Average bytes between samples, as a power of two (opt.lg_prof_sample): 0 records every
    /// allocation and gives exact counts; 19 (512 KiB) costs little and gives estimates
    #[arg(long, value_name = "LG", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=40))]
    pub sample: u32,

    /// Where the program's heap dumps, the flame graphs and the report are written
    #[arg(long, value_name = "DIR", default_value = "jemctl-prof")]
    pub out: PathBuf,

    /// Report what the program still holds at exit as leaked (opt.prof_leak)
    #[arg(long)]
    pub leaks: bool,

    /// The allocator to profile with: jemalloc-rs (libjemalloc_rs.so) or jemalloc (Debian's
    /// libjemalloc2, jemalloc 5)
    #[arg(long, value_enum, default_value_t = ProfAllocator::JemallocRs)]
    pub allocator: ProfAllocator,

    /// Rows in each table of the report
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,

    /// The program to run, and its arguments (put `--` before them if they start with `-`)
    #[arg(value_name = "PROGRAM", trailing_var_arg = true, required = true, num_args = 1..)]
    pub program: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfAllocator {
    JemallocRs,
    Jemalloc,
}

#[derive(Subcommand, Debug)]
pub enum ProfCommand {
    /// Report on a heap dump already written (by jemalloc-rs, jemalloc 2.2.1 or jemalloc 5)
    Show(ProfShowArgs),
}

#[derive(Args, Debug)]
pub struct ProfShowArgs {
    /// The dump: a .heap file
    pub file: PathBuf,

    /// The program's executable, read in place of the one the dump names (which may have
    /// moved, been rebuilt, or lie on another machine)
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,

    /// Report what is in use as leaked (for a dump written at exit, `.f.heap`)
    #[arg(long)]
    pub leaks: bool,

    /// Rows in each table of the report
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,

    /// Where the flame graphs are written (default: beside the dump)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunOneArgs {
    #[arg(long)]
    pub allocator: String,
    /// Only load the allocator and check its symbols
    #[arg(long)]
    pub probe: bool,
    #[arg(long, required_unless_present = "probe")]
    pub workload: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[arg(long)]
    pub duration: Option<f64>,
    #[arg(long)]
    pub ops: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 16)]
    pub sample_every: u32,
}
