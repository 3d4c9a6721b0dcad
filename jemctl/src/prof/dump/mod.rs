//! A heap profile dump, parsed: the model that the symboliser, the report and the flame graph
//! read.
//!
//! Two formats are read, both text:
//!
//! - jemalloc 2.2.1's (`prof_dump` in its `src/prof.c`), which google-pprof also reads: a header
//!   `heap profile: <in-use objects>: <in-use bytes> [<allocated objects>: <allocated bytes>] @
//!   heapprofile` when every allocation is sampled, or `@ heap_v2/<rate>` when one sample is
//!   taken every `rate` bytes on average; then one line per backtrace, `<objects>: <bytes>
//!   [<objects>: <bytes>] @ 0x... 0x...`, innermost frame first.
//! - jemalloc 5's: a first line `heap_v2/<rate>`, the totals on a `t*:` line and each thread's
//!   on `t<n>:` lines, then per backtrace an `@ 0x... 0x...` line followed by its own `t*:` and
//!   `t<n>:` lines.
//!
//! Both end with a `MAPPED_LIBRARIES:` line and the process's `/proc/<pid>/maps`, which maps
//! each address to a file and an offset in it ([`Mapping`]).
//!
//! Entry points: [`Profile::parse`], then [`Profile::unsampled`] to undo the sampling the way
//! pprof does.

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

/// Which writer's layout the dump has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `heap profile: ...` header and one line per backtrace (jemalloc 2.2.1, gperftools).
    Jemalloc2,
    /// `heap_v2/<rate>` first line with `t*:` and per-thread lines (jemalloc 5).
    Jemalloc5,
}

/// How the allocations in the dump were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// Every allocation was recorded (`@ heapprofile`): the counts are exact.
    Every,
    /// One sample every `rate` bytes on average (`heap_v2/<rate>`): each recorded object
    /// stands for more, see [`Profile::unsampled`].
    Rate(u64),
}

/// Object and byte counts, as written in the dump: in use now, and allocated since the start
/// (the bracketed pair, zero unless the writer accumulated them, `opt.prof_accum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub inuse_objects: i64,
    pub inuse_bytes: i64,
    pub alloc_objects: i64,
    pub alloc_bytes: i64,
}

/// [`Counts`] after unsampling: estimates, hence fractional.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    pub inuse_objects: f64,
    pub inuse_bytes: f64,
    pub alloc_objects: f64,
    pub alloc_bytes: f64,
}

impl std::ops::AddAssign for Estimate {
    fn add_assign(&mut self, o: Estimate) {
        self.inuse_objects += o.inuse_objects;
        self.inuse_bytes += o.inuse_bytes;
        self.alloc_objects += o.alloc_objects;
        self.alloc_bytes += o.alloc_bytes;
    }
}

/// One backtrace and what was allocated through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    pub counts: Counts,
    /// Return addresses, innermost first (the first ones are inside the allocator).
    pub frames: Vec<u64>,
}

/// One line of the `MAPPED_LIBRARIES:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset in the file of the byte mapped at `start`.
    pub offset: u64,
    pub executable: bool,
    /// The file, when the mapping has one (not `[heap]`, `[stack]` or anonymous memory).
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub format: Format,
    pub sampling: Sampling,
    /// The totals the header states (sampled counts, as written).
    pub totals: Counts,
    pub stacks: Vec<Stack>,
    pub maps: Vec<Mapping>,
    /// Threads with their own counts (jemalloc 5's `t<n>:` lines under the header); 0 when the
    /// format does not say.
    pub threads: usize,
}

/// Why a dump could not be read, with the line (counting from 1) where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError { line, message: message.into() }
}

impl Profile {
    pub fn parse(text: &str) -> Result<Profile, ParseError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
        while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
            lines.next();
        }
        let Some((n, first)) = lines.next() else {
            return Err(error(1, "the file is empty, not a heap profile"));
        };
        let first = first.trim();
        let mut profile = if let Some(rest) = first.strip_prefix("heap profile:") {
            let (counts, sampling) = rest.split_once('@').ok_or_else(|| error(n, "the header has no '@ heapprofile' or '@ heap_v2/<rate>'"))?;
            let sampling = parse_sampling(sampling.trim()).ok_or_else(|| {
                error(n, format!("unknown sampling '{}' in the header: expected 'heapprofile' or 'heap_v2/<rate>'", sampling.trim()))
            })?;
            Profile::empty(Format::Jemalloc2, sampling, parse_counts(counts, n)?)
        } else if first.starts_with("heap_v2/") {
            let sampling = parse_sampling(first).ok_or_else(|| error(n, format!("'{first}' is not 'heap_v2/<rate>' with a positive rate")))?;
            Profile::empty(Format::Jemalloc5, sampling, Counts::default())
        } else {
            return Err(error(n, format!("not a heap profile: expected 'heap profile: ...' or 'heap_v2/<rate>', found '{}'", clip(first))));
        };

        let mut saw_totals = profile.format == Format::Jemalloc2;
        let mut in_maps = false;
        while let Some((n, line)) = lines.next() {
            let line = line.trim();
            if in_maps {
                if let Some(m) = parse_mapping(line) {
                    profile.maps.push(m);
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if line == "MAPPED_LIBRARIES:" {
                in_maps = true;
                continue;
            }
            match profile.format {
                Format::Jemalloc2 => {
                    let (counts, frames) =
                        line.split_once('@').ok_or_else(|| error(n, format!("expected '<objects>: <bytes> [<objects>: <bytes>] @ <addresses>', found '{}'", clip(line))))?;
                    profile.stacks.push(Stack { counts: parse_counts(counts, n)?, frames: parse_frames(frames, n)? });
                }
                Format::Jemalloc5 => {
                    if let Some(frames) = line.strip_prefix('@') {
                        let frames = parse_frames(frames, n)?;
                        let counts = match lines.next() {
                            Some((m, l)) if l.trim().starts_with("t*:") => parse_counts(&l.trim()[3..], m)?,
                            _ => return Err(error(n + 1, "a backtrace must be followed by its 't*:' line")),
                        };
                        profile.stacks.push(Stack { counts, frames });
                    } else if let Some(counts) = line.strip_prefix("t*:") {
                        if saw_totals || !profile.stacks.is_empty() {
                            return Err(error(n, "a 't*:' line that follows no backtrace"));
                        }
                        profile.totals = parse_counts(counts, n)?;
                        saw_totals = true;
                    } else if is_thread_line(line) {
                        if profile.stacks.is_empty() {
                            profile.threads += 1;
                        }
                    } else {
                        return Err(error(n, format!("expected '@ <addresses>', 't*:' or 't<n>:', found '{}'", clip(line))));
                    }
                }
            }
        }
        if !saw_totals {
            return Err(error(1, "the header's 't*:' totals line is missing"));
        }
        Ok(profile)
    }

    fn empty(format: Format, sampling: Sampling, totals: Counts) -> Profile {
        Profile { format, sampling, totals, stacks: Vec::new(), maps: Vec::new(), threads: 0 }
    }

    /// Whether the dump carries allocated-since-start counts (the bracketed pairs).
    pub fn has_alloc_counts(&self) -> bool {
        self.totals.alloc_objects != 0 || self.stacks.iter().any(|s| s.counts.alloc_objects != 0)
    }

    /// The counts of a sampled dump scaled back to estimates of the whole, as pprof does for
    /// `heap_v2`: an object of `size` bytes is sampled with probability `1 - exp(-size/rate)`,
    /// so each pair (objects, bytes) is multiplied by `1 / (1 - exp(-(bytes/objects)/rate))`,
    /// the in-use and allocated pairs each with its own average size.
    pub fn unsampled(&self, c: &Counts) -> Estimate {
        let scale = |objects: i64, bytes: i64| -> (f64, f64) {
            let (o, b) = (objects as f64, bytes as f64);
            match self.sampling {
                Sampling::Rate(rate) if objects > 0 && bytes > 0 => {
                    let s = 1.0 / (1.0 - (-(b / o) / rate as f64).exp());
                    (o * s, b * s)
                }
                _ => (o, b),
            }
        };
        let (inuse_objects, inuse_bytes) = scale(c.inuse_objects, c.inuse_bytes);
        let (alloc_objects, alloc_bytes) = scale(c.alloc_objects, c.alloc_bytes);
        Estimate { inuse_objects, inuse_bytes, alloc_objects, alloc_bytes }
    }

    /// The mapping that holds `addr`.
    pub fn mapping_of(&self, addr: u64) -> Option<&Mapping> {
        self.maps.iter().find(|m| m.start <= addr && addr < m.end)
    }
}

fn parse_sampling(s: &str) -> Option<Sampling> {
    if s == "heapprofile" {
        return Some(Sampling::Every);
    }
    match s.strip_prefix("heap_v2/")?.parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(rate) => Some(Sampling::Rate(rate)),
    }
}

/// `<objects>: <bytes> [<objects>: <bytes>]`, spaces anywhere between.
fn parse_counts(s: &str, line: usize) -> Result<Counts, ParseError> {
    let bad = || error(line, format!("expected '<objects>: <bytes> [<objects>: <bytes>]', found '{}'", clip(s.trim())));
    let (now, accum) = s.split_once('[').ok_or_else(bad)?;
    let accum = accum.trim().strip_suffix(']').ok_or_else(bad)?;
    let pair = |p: &str| -> Result<(i64, i64), ParseError> {
        let (objects, bytes) = p.split_once(':').ok_or_else(bad)?;
        let objects = objects.trim().parse::<i64>().map_err(|_| bad())?;
        let bytes = bytes.trim().parse::<i64>().map_err(|_| bad())?;
        Ok((objects, bytes))
    };
    let (inuse_objects, inuse_bytes) = pair(now)?;
    let (alloc_objects, alloc_bytes) = pair(accum)?;
    Ok(Counts { inuse_objects, inuse_bytes, alloc_objects, alloc_bytes })
}

fn parse_frames(s: &str, line: usize) -> Result<Vec<u64>, ParseError> {
    s.split_whitespace()
        .map(|a| {
            a.strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| error(line, format!("'{}' is not a hexadecimal address like 0x4005d6", clip(a))))
        })
        .collect()
}

fn is_thread_line(line: &str) -> bool {
    line.strip_prefix('t').and_then(|r| r.split_once(':')).is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// `start-end perms offset dev inode [path]`, as in `/proc/<pid>/maps`; anything else is
/// skipped, as pprof does.
fn parse_mapping(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, char::is_whitespace).filter(|f| !f.is_empty());
    let (range, perms, offset) = (fields.next()?, fields.next()?, fields.next()?);
    let (_dev, _inode) = (fields.next()?, fields.next()?);
    let (start, end) = range.split_once('-')?;
    let path = line.find(" /").map(|i| PathBuf::from(line[i + 1..].trim_end_matches(" (deleted)")));
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset: u64::from_str_radix(offset, 16).ok()?,
        executable: perms.as_bytes().get(2) == Some(&b'x'),
        path,
    })
}

/// A line quoted in an error message, cut short when long (a binary file has no lines).
fn clip(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}
