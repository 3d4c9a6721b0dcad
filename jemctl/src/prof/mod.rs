//! Heap profiles: reading the dumps that jemalloc's profiler writes (`opt.prof`), resolving
//! their addresses to functions and source lines in this process, and reporting them as text
//! and flame graphs. `jemctl prof` (in `cmd/prof.rs`) drives it.
//!
//! [`dump`] is the format and model, [`symbols`] the symboliser, [`analysis`] the allocation
//! sites, [`report`] the text and [`flame`] the SVG. [`load`] and [`Loaded::write_flame_graphs`]
//! are what the subcommand calls.

pub mod analysis;
pub mod dump;
pub mod flame;
pub mod report;
pub mod symbols;

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// A dump read, parsed and symbolised.
pub struct Loaded {
    pub path: PathBuf,
    pub profile: dump::Profile,
    pub analysis: analysis::Analysis,
    /// Files the dump maps that could not be read, with why (their frames show as addresses).
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Reads and symbolises the dump at `path`; `binary` stands in for the program's own file.
pub fn load(path: &Path, binary: Option<&Path>) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let profile =
        dump::Profile::parse(&text).with_context(|| format!("{} is not a heap profile jemctl can read", path.display()))?;
    let mut symbols = symbols::Symbolizer::new(&profile, binary);
    let analysis = analysis::analyze(&profile, &mut symbols);
    let unreadable = std::mem::take(&mut symbols.unreadable);
    Ok(Loaded { path: path.to_path_buf(), profile, analysis, unreadable })
}

impl Loaded {
    pub fn report(&self, options: &report::Options) -> String {
        let name = self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut out = report::render(&name, &self.profile, &self.analysis, options);
        for (file, why) in &self.unreadable {
            out.push_str(&format!("note: cannot read {} ({why}): its frames are shown as addresses\n", file.display()));
        }
        out
    }

    /// Writes `<stem>.inuse.svg` (and `<stem>.alloc.svg` when the dump has allocated counts)
    /// into `dir`, returning the files written.
    pub fn write_flame_graphs(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let inuse = dir.join(format!("{stem}.inuse.svg"));
        if flame::write(&self.analysis.folded(|e| e.inuse_bytes), "Bytes in use by call stack", &inuse)? {
            written.push(inuse);
        }
        if self.profile.has_alloc_counts() {
            let alloc = dir.join(format!("{stem}.alloc.svg"));
            if flame::write(&self.analysis.folded(|e| e.alloc_bytes), "Bytes allocated by call stack", &alloc)? {
                written.push(alloc);
            }
        }
        Ok(written)
    }
}
