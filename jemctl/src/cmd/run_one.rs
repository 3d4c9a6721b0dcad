//! `jemctl __run-one`: the child side of `bench`. Loads one allocator, runs one workload, and
//! prints the measurement as JSON on stdout; with `--probe`, only loads the allocator.

use crate::allocator::AllocatorSpec;
use crate::bench::sample::{measure, Request};
use crate::cli::RunOneArgs;
use std::time::Duration;

pub fn run(args: RunOneArgs) -> anyhow::Result<()> {
    let spec = AllocatorSpec::parse(&args.allocator)?;
    if args.probe {
        spec.load()?;
        println!("{{}}");
        return Ok(());
    }
    let sample = measure(&Request {
        spec: &spec,
        workload: args.workload.as_deref().unwrap_or_default(),
        threads: args.threads,
        duration: args.duration.map(Duration::from_secs_f64),
        ops_per_thread: args.ops,
        seed: args.seed,
        sample_every: args.sample_every,
    })?;
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}
