//! The benchmark runner, as a library for subcommands: [`run`] takes a [`BenchConfig`] and
//! returns a [`BenchReport`] whose [`RunResult`]s serialise to the documented JSON.
//!
//! Every measurement runs in a fresh child process (see [`child`]); within each repetition the
//! allocators are interleaved, so that drift in the machine's speed touches them alike, and a
//! result is the median over repetitions with the spread of its throughput.

pub mod child;
pub mod sample;

use crate::allocator::AllocatorSpec;
use crate::machine::Machine;
use anyhow::Result;
use child::ChildRun;
use sample::{Latency, Sample};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Below this many live bytes, fragmentation is mostly the allocator's fixed overhead and is
/// not shown in tables.
pub const FRAGMENTATION_MIN_LIVE: u64 = 1 << 20;

#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub allocators: Vec<AllocatorSpec>,
    pub workloads: Vec<String>,
    pub threads: Vec<usize>,
    pub duration: Option<Duration>,
    pub ops_per_thread: Option<u64>,
    pub repeat: u32,
    pub seed: u64,
    pub sample_every: u32,
}

/// Settings as saved with the results.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Settings {
    pub command: String,
    pub duration_seconds: Option<f64>,
    pub ops_per_thread: Option<u64>,
    pub repeat: u32,
    pub seed: u64,
    pub sample_every: u32,
    pub clock: String,
    pub clock_overhead_ns: u64,
    #[serde(default)]
    pub clock_resolution_ns: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunResult {
    pub allocator: String,
    pub workload: String,
    pub threads: usize,
    /// How the allocator was reached: in-process, dlopen, or a fallback (see `child`).
    pub loaded: String,
    pub repeats: u32,
    /// Allocator calls per second, all threads: the median over repetitions.
    pub ops_per_sec: f64,
    pub ops_per_sec_min: f64,
    pub ops_per_sec_max: f64,
    /// `ops_per_sec` over the `system` allocator's for the same workload and threads.
    pub relative_to_system: Option<f64>,
    pub ops: u64,
    pub seconds: f64,
    /// User plus system CPU time of the workload threads.
    pub cpu_seconds: f64,
    /// Allocator calls per CPU second: less sensitive than `ops_per_sec` to other load on
    /// the machine.
    pub ops_per_cpu_sec: f64,
    pub cpu_user_seconds: f64,
    pub cpu_sys_seconds: f64,
    pub latency_ns: Latency,
    pub latency_cdf: Vec<(f64, u64)>,
    pub latency_samples: u64,
    pub baseline_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub end_rss_bytes: u64,
    /// Peak RSS less RSS at the end, after the workload freed everything.
    pub returned_bytes: u64,
    pub peak_live_bytes: u64,
    /// (peak RSS - baseline RSS) / peak live bytes.
    pub fragmentation: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub settings: Settings,
    pub notes: Vec<String>,
    pub runs: Vec<RunResult>,
    /// Measurements whose child process failed, with its message; their rows are missing
    /// (or, if other repetitions succeeded, their medians are over fewer repetitions).
    #[serde(default)]
    pub failed: Vec<String>,
}

/// What [`run`] is about to do.
pub struct Step<'a> {
    pub done: usize,
    pub total: usize,
    pub label: &'a str,
}

/// Runs the benchmark; `progress` hears of each measurement before it starts (pass
/// `&mut |_| {}` for none).
pub fn run(config: &BenchConfig, progress: &mut dyn FnMut(&Step<'_>)) -> Result<BenchReport> {
    let machine = Machine::detect();
    let mut notes = Vec::new();
    let mut launches = Vec::new();
    for spec in &config.allocators {
        let (launch, note) = child::probe(spec)?;
        notes.extend(note);
        launches.push(launch);
    }
    let cells: Vec<(usize, &str, usize)> = config
        .workloads
        .iter()
        .flat_map(|w| config.threads.iter().flat_map(move |&t| (0..config.allocators.len()).map(move |a| (a, w.as_str(), t))))
        .collect();
    let total = cells.len() * config.repeat as usize;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cells.len()];
    let mut failed = Vec::new();
    for rep in 0..config.repeat {
        for (i, &(a, workload, threads)) in cells.iter().enumerate() {
            let spec = &config.allocators[a];
            let label = format!("{workload} x{threads} {}", spec.label());
            progress(&Step { done: rep as usize * cells.len() + i, total, label: &label });
            let sample = child::run(&ChildRun {
                spec,
                launch: &launches[a],
                workload,
                threads,
                duration: config.duration,
                ops_per_thread: config.ops_per_thread,
                seed: config.seed,
                sample_every: config.sample_every,
                wrapper: &[],
            });
            match sample {
                Ok(sample) => samples[i].push(sample),
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
    }
    let mut runs: Vec<RunResult> = cells
        .iter()
        .zip(&samples)
        .filter(|(_, s)| !s.is_empty())
        .map(|(&(a, workload, threads), s)| {
            let launch = match &config.allocators[a] {
                AllocatorSpec::Library { .. } => launches[a].describe(),
                _ => "in-process".to_string(),
            };
            aggregate(config.allocators[a].label(), workload, threads, &launch, s)
        })
        .collect();
    fill_relative(&mut runs);
    let first = samples.iter().flatten().next();
    let settings = Settings {
        command: String::new(),
        duration_seconds: config.duration.map(|d| d.as_secs_f64()),
        ops_per_thread: config.ops_per_thread,
        repeat: config.repeat,
        seed: config.seed,
        sample_every: config.sample_every,
        clock: first.map(|s| s.clock.clone()).unwrap_or_default(),
        clock_overhead_ns: first.map_or(0, |s| s.clock_overhead_ns),
        clock_resolution_ns: first.map_or(0, |s| s.clock_resolution_ns),
    };
    Ok(BenchReport { machine, settings, notes, runs, failed })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u64(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> u64 {
    median(samples.iter().map(|s| f(s) as f64).collect()).round() as u64
}

pub(crate) fn aggregate(allocator: &str, workload: &str, threads: usize, loaded: &str, samples: &[Sample]) -> RunResult {
    let rates: Vec<f64> = samples.iter().map(|s| s.ops as f64 / s.seconds.max(1e-9)).collect();
    let ops_per_sec = median(rates.clone());
    let f = |g: fn(&Sample) -> f64| median(samples.iter().map(g).collect());
    let u = |g: fn(&Sample) -> u64| median_u64(samples, g);
    let typical = rates
        .iter()
        .enumerate()
        .min_by(|a, b| (a.1 - ops_per_sec).abs().total_cmp(&(b.1 - ops_per_sec).abs()))
        .map_or(0, |(i, _)| i);
    let baseline = u(|s| s.baseline_rss_bytes);
    let peak_rss = u(|s| s.peak_rss_bytes);
    let end_rss = u(|s| s.end_rss_bytes);
    let peak_live = u(|s| s.peak_live_bytes);
    let (user, sys) = (f(|s| s.cpu_user_seconds), f(|s| s.cpu_sys_seconds));
    RunResult {
        allocator: allocator.to_string(),
        workload: workload.to_string(),
        threads,
        loaded: loaded.to_string(),
        repeats: samples.len() as u32,
        ops_per_sec,
        ops_per_sec_min: rates.iter().copied().fold(f64::INFINITY, f64::min),
        ops_per_sec_max: rates.iter().copied().fold(0.0, f64::max),
        relative_to_system: None,
        ops: u(|s| s.ops),
        seconds: f(|s| s.seconds),
        cpu_seconds: user + sys,
        ops_per_cpu_sec: median(samples.iter().map(|s| s.ops as f64 / (s.cpu_user_seconds + s.cpu_sys_seconds).max(1e-9)).collect()),
        cpu_user_seconds: user,
        cpu_sys_seconds: sys,
        latency_ns: Latency {
            p50: u(|s| s.latency_ns.p50),
            p90: u(|s| s.latency_ns.p90),
            p99: u(|s| s.latency_ns.p99),
            p999: u(|s| s.latency_ns.p999),
            max: u(|s| s.latency_ns.max),
        },
        latency_cdf: samples[typical].latency_cdf.clone(),
        latency_samples: u(|s| s.latency_samples),
        baseline_rss_bytes: baseline,
        peak_rss_bytes: peak_rss,
        end_rss_bytes: end_rss,
        returned_bytes: peak_rss.saturating_sub(end_rss),
        peak_live_bytes: peak_live,
        fragmentation: (peak_live > 0).then(|| peak_rss.saturating_sub(baseline) as f64 / peak_live as f64),
    }
}

pub(crate) fn fill_relative(runs: &mut [RunResult]) {
    let system: Vec<(String, usize, f64)> =
        runs.iter().filter(|r| r.allocator == "system").map(|r| (r.workload.clone(), r.threads, r.ops_per_sec)).collect();
    for r in runs.iter_mut() {
        r.relative_to_system = system
            .iter()
            .find(|(w, t, _)| *w == r.workload && *t == r.threads)
            .filter(|s| s.2 > 0.0)
            .map(|s| r.ops_per_sec / s.2);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
