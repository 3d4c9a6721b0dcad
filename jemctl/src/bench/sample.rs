//! One measurement of one allocator on one workload, taken in a child process and sent back
//! to the parent as JSON.

use crate::allocator::AllocatorSpec;
use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use workloads::{Clock, Outcome, RunParams};

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Quantiles kept for the latency CDF chart.
pub const CDF_QUANTILES: [f64; 14] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sample {
    pub ops: u64,
    pub seconds: f64,
    pub cpu_user_seconds: f64,
    pub cpu_sys_seconds: f64,
    pub latency_ns: Latency,
    /// (quantile, nanoseconds) at [`CDF_QUANTILES`].
    pub latency_cdf: Vec<(f64, u64)>,
    pub latency_samples: u64,
    pub peak_live_bytes: u64,
    pub end_live_bytes: i64,
    pub baseline_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub end_rss_bytes: u64,
    pub peak_rss_exact: bool,
    pub clock: String,
    pub clock_overhead_ns: u64,
    /// The clock's step: latencies below it read as "under one step".
    #[serde(default)]
    pub clock_resolution_ns: u64,
}

pub struct Request<'a> {
    pub spec: &'a AllocatorSpec,
    pub workload: &'a str,
    pub threads: usize,
    pub duration: Option<Duration>,
    pub ops_per_thread: Option<u64>,
    pub seed: u64,
    pub sample_every: u32,
}

/// Loads the allocator and runs the workload in this process.
pub fn measure(req: &Request<'_>) -> Result<Sample> {
    let workload = workloads::find(req.workload).ok_or_else(|| anyhow!("unknown workload '{}'", req.workload))?;
    let table = req.spec.load()?;
    let clock = Clock::calibrate();
    let params = RunParams {
        threads: req.threads,
        duration: req.duration,
        ops_per_thread: req.ops_per_thread,
        seed: req.seed,
        sample_every: req.sample_every,
    };
    let o = workloads::run(workload, table, &params, &clock);
    Ok(Sample::from_outcome(&o, &clock))
}

impl Sample {
    /// The figures of one run of a workload, timed with `clock`.
    pub fn from_outcome(o: &Outcome, clock: &Clock) -> Sample {
        let h = &o.latency;
        let q = |q: f64| h.value_at_quantile(q);
        Sample {
            ops: o.ops,
            seconds: o.seconds,
            cpu_user_seconds: o.cpu_user_seconds,
            cpu_sys_seconds: o.cpu_sys_seconds,
            latency_ns: Latency { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: h.max() },
            latency_cdf: CDF_QUANTILES.iter().map(|&x| (x, q(x))).collect(),
            latency_samples: h.len(),
            peak_live_bytes: o.peak_live_bytes,
            end_live_bytes: o.end_live_bytes,
            baseline_rss_bytes: o.baseline_rss_bytes,
            peak_rss_bytes: o.peak_rss_bytes,
            end_rss_bytes: o.end_rss_bytes,
            peak_rss_exact: o.peak_rss_exact,
            clock: clock.describe(),
            clock_overhead_ns: clock.overhead_ns(),
            clock_resolution_ns: clock.resolution_ns(),
        }
    }
}
