//! `jemctl __replay-one`: the child side of `replay`. Reads the trace, loads one allocator,
//! replays the trace on it and prints the measurement as JSON on stdout.

use crate::allocator::AllocatorSpec;
use crate::cli::ReplayOneArgs;
use crate::trace;

pub fn run(args: ReplayOneArgs) -> anyhow::Result<()> {
    let spec = AllocatorSpec::parse(&args.allocator)?;
    let loaded = trace::load(&args.trace, args.allow_truncated)?;
    let plan = trace::plan::build(&loaded.trace, &loaded.objects);
    drop(loaded);
    let table = spec.load()?;
    let sample = trace::replay::measure(&plan, table, args.sample_every)?;
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}
