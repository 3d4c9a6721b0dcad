//! Allocation traces: reading the files `jemctl record` writes ([`format`]), resolving
//! addresses to objects ([`objects`]), analysing them ([`analysis`], [`chart`]), and turning
//! them into a program that replays on any allocator ([`plan`], [`replay`]).

pub mod analysis;
pub mod chart;
pub mod format;
pub mod objects;
pub mod plan;
pub mod replay;

use anyhow::Result;
use std::path::Path;

/// A trace read and resolved to objects.
pub struct Loaded {
    pub trace: format::Trace,
    pub objects: objects::Objects,
}

pub fn load(path: &Path, allow_truncated: bool) -> Result<Loaded> {
    let trace = format::read(path, allow_truncated)?;
    let objects = objects::resolve(&trace);
    Ok(Loaded { trace, objects })
}

/// The name a trace's replay goes by: its file name without `.trace`.
pub fn name(path: &Path) -> String {
    let file = path.file_name().map_or_else(|| "trace".into(), |f| f.to_string_lossy().into_owned());
    file.strip_suffix(".trace").map(str::to_string).unwrap_or(file)
}
