//! A symbolised profile: each backtrace's frames with the allocator's own frames taken off,
//! its counts unsampled, and the allocation sites (the innermost frame left) summed.
//!
//! Entry point: [`analyze`].

use super::dump::{Estimate, Profile};
use super::symbols::{Frame, Symbolizer};
use std::collections::HashMap;
use std::path::Path;

/// One backtrace: the program's frames (innermost first, inlined calls expanded) and its
/// unsampled counts.
pub struct CallStack {
    pub frames: Vec<Frame>,
    pub estimate: Estimate,
    /// Objects in use as written in the dump (sampled), so that "contexts" counts as 2.2.1 does.
    pub sampled_inuse_objects: i64,
}

/// One allocation site: a function and source line that called the allocator.
pub struct Site {
    pub function: String,
    pub location: Option<String>,
    pub estimate: Estimate,
}

pub struct Analysis {
    pub stacks: Vec<CallStack>,
    pub sites: Vec<Site>,
    pub total: Estimate,
}

/// The name a site gets when every frame of its backtrace is the allocator's.
pub const INSIDE_ALLOCATOR: &str = "(inside the allocator)";

pub fn analyze(profile: &Profile, symbols: &mut Symbolizer) -> Analysis {
    let mut stacks = Vec::with_capacity(profile.stacks.len());
    let mut total = Estimate::default();
    for s in &profile.stacks {
        let mut frames: Vec<Frame> = Vec::new();
        for &addr in &s.frames {
            frames.extend(symbols.frames(addr).iter().cloned());
        }
        let first_own = frames.iter().position(|f| !is_allocator_frame(f)).unwrap_or(frames.len());
        frames.drain(..first_own);
        let estimate = profile.unsampled(&s.counts);
        total += estimate;
        stacks.push(CallStack { frames, estimate, sampled_inuse_objects: s.counts.inuse_objects });
    }

    let mut by_site: HashMap<(String, Option<String>), Estimate> = HashMap::new();
    for s in &stacks {
        let key = match s.frames.first() {
            Some(f) => (f.name(), f.location()),
            None => (INSIDE_ALLOCATOR.to_string(), None),
        };
        *by_site.entry(key).or_default() += s.estimate;
    }
    let sites = by_site.into_iter().map(|((function, location), estimate)| Site { function, location, estimate }).collect();
    Analysis { stacks, sites, total }
}

impl Analysis {
    /// Sites sorted by `key` (largest first), ties by name so that output is stable; those
    /// whose key is zero are left out.
    pub fn top_sites(&self, key: impl Fn(&Estimate) -> f64) -> Vec<&Site> {
        let mut v: Vec<&Site> = self.sites.iter().filter(|s| key(&s.estimate) > 0.0).collect();
        v.sort_by(|a, b| key(&b.estimate).total_cmp(&key(&a.estimate)).then_with(|| a.function.cmp(&b.function)));
        v
    }

    /// Each backtrace as frame names root first with its rounded byte count, for a flame graph.
    pub fn folded(&self, key: impl Fn(&Estimate) -> f64) -> Vec<(Vec<String>, u64)> {
        self.stacks
            .iter()
            .map(|s| {
                let mut names: Vec<String> = s.frames.iter().rev().map(Frame::name).collect();
                if names.is_empty() {
                    names.push(INSIDE_ALLOCATOR.to_string());
                }
                (names, key(&s.estimate).round().max(0.0) as u64)
            })
            .collect()
    }
}

/// The C and C++ allocation entry points; frames in them, like frames in a jemalloc library,
/// belong to the allocator, not to the program.
const ENTRY_POINTS: &[&str] = &[
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
    "reallocarray", "allocm", "rallocm", "mallocx", "rallocx", "__libc_malloc", "__libc_calloc", "__libc_realloc",
    "__libc_memalign", "__rust_alloc", "__rust_alloc_zeroed", "__rust_realloc", "__rg_alloc", "__rg_alloc_zeroed",
    "__rg_realloc", "__rdl_alloc", "__rdl_alloc_zeroed", "__rdl_realloc",
];

/// Name prefixes of the same: C++ `operator new`, Rust's allocation shims, this project's
/// allocator linked into a Rust program, and jemalloc's own prefixed functions.
const ENTRY_PREFIXES: &[&str] = &["operator new", "alloc::alloc::", "jemalloc_rs::", "<jemalloc_rs::", "je_"];

fn is_allocator_frame(f: &Frame) -> bool {
    let in_jemalloc_library =
        f.object.as_deref().and_then(Path::file_name).is_some_and(|n| n.to_string_lossy().starts_with("libjemalloc"));
    in_jemalloc_library
        || f.function.as_deref().is_some_and(|name| {
            let bare = name.split('(').next().unwrap_or(name);
            ENTRY_POINTS.contains(&bare) || ENTRY_PREFIXES.iter().any(|p| name.starts_with(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn frame(function: &str, object: &str) -> Frame {
        Frame { function: Some(function.into()), file: None, line: None, object: Some(PathBuf::from(object)), address: 1 }
    }

    #[test]
    fn allocator_frames_are_recognised() {
        assert!(is_allocator_frame(&frame("prof_backtrace_impl", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")));
        assert!(is_allocator_frame(&frame("anything", "/x/target/release/libjemalloc_rs.so")));
        assert!(is_allocator_frame(&frame("malloc", "/usr/bin/prog")));
        assert!(is_allocator_frame(&frame("operator new(unsigned long)", "/usr/lib/libstdc++.so.6")));
        assert!(is_allocator_frame(&frame("jemalloc_rs::prof::backtrace", "/usr/bin/prog")));
        assert!(is_allocator_frame(&frame("__rust_alloc", "/usr/bin/prog")));
        assert!(!is_allocator_frame(&frame("malloc_table_grow", "/usr/bin/prog")));
        assert!(!is_allocator_frame(&frame("main", "/usr/bin/prog")));
    }
}
