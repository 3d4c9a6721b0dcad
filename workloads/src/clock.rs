//! The cheap clock used to time sampled operations, and its own cost.
//!
//! On x86-64 with an invariant TSC (`constant_tsc` and `nonstop_tsc` in `/proc/cpuinfo`) the
//! clock is `rdtsc` between `lfence`s (so the timed call cannot overlap the readings), calibrated against [`Instant`] once per process; elsewhere it is
//! [`Instant`] itself. [`Clock::overhead_ns`] is the median cost of one back-to-back reading,
//! which [`crate::ThreadCtx`] subtracts from each sampled latency.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    Rdtsc,
    Instant,
}

#[derive(Clone, Debug)]
pub struct Clock {
    kind: ClockKind,
    base: Instant,
    /// Nanoseconds per tick, times 2^32.
    ns_per_tick_q32: u64,
    overhead_ns: u64,
    resolution_ns: u64,
    ticks_per_ns: f64,
}

impl Clock {
    /// Picks and calibrates the clock (about 20 ms).
    pub fn calibrate() -> Self {
        let kind = if cfg!(target_arch = "x86_64") && invariant_tsc() { ClockKind::Rdtsc } else { ClockKind::Instant };
        let mut clock = Clock { kind, base: Instant::now(), ns_per_tick_q32: 1 << 32, overhead_ns: 0, resolution_ns: 0, ticks_per_ns: 1.0 };
        if kind == ClockKind::Rdtsc {
            let (t0, i0) = (clock.ticks(), Instant::now());
            while i0.elapsed() < Duration::from_millis(20) {}
            let (t1, ns) = (clock.ticks(), i0.elapsed().as_nanos() as f64);
            clock.ticks_per_ns = (t1 - t0) as f64 / ns;
            clock.ns_per_tick_q32 = ((1u64 << 32) as f64 / clock.ticks_per_ns) as u64;
        }
        let mut costs: Vec<u64> = (0..10_001)
            .map(|_| {
                let a = clock.ticks();
                let b = clock.ticks();
                b - a
            })
            .collect();
        costs.sort_unstable();
        clock.overhead_ns = clock.ticks_to_ns(costs[costs.len() / 2]);
        clock.resolution_ns = clock.ticks_to_ns(costs.iter().copied().find(|&c| c > 0).unwrap_or(1)).max(1);
        clock
    }

    pub fn kind(&self) -> ClockKind {
        self.kind
    }

    /// Median cost of one reading, in nanoseconds.
    pub fn overhead_ns(&self) -> u64 {
        self.overhead_ns
    }

    /// The smallest step between two readings that differ, in nanoseconds: latencies are
    /// multiples of it.
    pub fn resolution_ns(&self) -> u64 {
        self.resolution_ns
    }

    /// Ticks per nanosecond (the TSC frequency in GHz for rdtsc, 1 for Instant).
    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    #[inline(always)]
    pub fn ticks(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if self.kind == ClockKind::Rdtsc {
            use core::arch::x86_64::{_mm_lfence, _rdtsc};
            // SAFETY: lfence and rdtsc have no preconditions; invariant_tsc() checked that the
            // TSC is usable. The fences keep the timed call from overlapping the readings.
            return unsafe {
                _mm_lfence();
                let t = _rdtsc();
                _mm_lfence();
                t
            };
        }
        self.base.elapsed().as_nanos() as u64
    }

    #[inline(always)]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        ((ticks as u128 * self.ns_per_tick_q32 as u128) >> 32) as u64
    }

    pub fn describe(&self) -> String {
        match self.kind {
            ClockKind::Rdtsc => format!(
                "lfence+rdtsc at {:.2} GHz ({} ns per reading, steps of {} ns)",
                self.ticks_per_ns, self.overhead_ns, self.resolution_ns
            ),
            ClockKind::Instant => {
                format!("clock_gettime ({} ns per reading, steps of {} ns)", self.overhead_ns, self.resolution_ns)
            }
        }
    }
}

fn invariant_tsc() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|l| l.contains(" constant_tsc") && l.contains(" nonstop_tsc"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use std::time::{Duration, Instant};

    #[test]
    fn ticks_convert_to_wall_time_within_ten_percent() {
        let clock = Clock::calibrate();
        let (t0, i0) = (clock.ticks(), Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let ns = clock.ticks_to_ns(clock.ticks() - t0) as f64;
        let wall = i0.elapsed().as_nanos() as f64;
        assert!((ns / wall - 1.0).abs() < 0.1, "clock says {ns} ns, wall {wall} ns");
        assert!(clock.overhead_ns() < 1_000);
    }
}
