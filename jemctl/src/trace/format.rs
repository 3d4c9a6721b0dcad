//! Reading a trace file (format version [`VERSION`], documented in `docs/trace-format.md`):
//! [`read`] checks the header, walks the chunks, decodes them in parallel (rayon; each chunk
//! decodes on its own) and merges their events into one list in order.
//!
//! A bad magic, an unknown version, a chunk that claims more than it holds or an event that
//! does not decode is an error naming the offset; a file that ends inside a chunk was cut short,
//! an error too unless the caller accepts a truncated trace, in which case the complete events before
//! the cut are kept and [`Trace::truncated`] says where it was cut.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::Path;

pub const VERSION: u32 = 1;
const FILE_MAGIC: &[u8; 8] = b"JEMTRACE";
const CHUNK_MAGIC: &[u8; 4] = b"CHNK";
const FILE_HEADER: usize = 64;
const CHUNK_HEADER: usize = 40;
const NEXT_SEQ: u8 = 0x10;

/// The calls a trace records, numbered as in the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    Malloc = 1,
    Calloc,
    Realloc,
    Free,
    PosixMemalign,
    AlignedAlloc,
    Memalign,
    Valloc,
    Pvalloc,
    Allocm,
    Rallocm,
    Dallocm,
}

pub const ALL_OPS: [Op; 12] = [
    Op::Malloc,
    Op::Calloc,
    Op::Realloc,
    Op::Free,
    Op::PosixMemalign,
    Op::AlignedAlloc,
    Op::Memalign,
    Op::Valloc,
    Op::Pvalloc,
    Op::Allocm,
    Op::Rallocm,
    Op::Dallocm,
];

impl Op {
    fn from_tag(kind: u8) -> Option<Op> {
        ALL_OPS.get(usize::from(kind).wrapping_sub(1)).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Malloc => "malloc",
            Op::Calloc => "calloc",
            Op::Realloc => "realloc",
            Op::Free => "free",
            Op::PosixMemalign => "posix_memalign",
            Op::AlignedAlloc => "aligned_alloc",
            Op::Memalign => "memalign",
            Op::Valloc => "valloc",
            Op::Pvalloc => "pvalloc",
            Op::Allocm => "allocm",
            Op::Rallocm => "rallocm",
            Op::Dallocm => "dallocm",
        }
    }
}

/// One call. Pointers are the addresses the recorded program saw; 0 is NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The order number, unique in the trace.
    pub seq: u64,
    /// The thread's number in the trace (0 for the first to call).
    pub thread: u32,
    pub op: Op,
    /// The block passed in (`realloc`, `free`, `rallocm`, `dallocm`).
    pub old: u64,
    /// The block returned; 0 if none or the call failed.
    pub new: u64,
    /// Requested bytes (`calloc`: count times size, saturated).
    pub size: u64,
    /// Requested alignment (aligned calls; `allocm` and `rallocm` from their flags); 0 if none.
    pub align: u64,
    /// `*allocm` flags; for `calloc`, 1 (zeroed).
    pub flags: u32,
}

/// One thread of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    pub thread: u32,
    pub tid: u32,
}

#[derive(Clone, Debug)]
pub struct Trace {
    pub pid: u32,
    pub ppid: u32,
    pub program: String,
    pub forked: bool,
    pub events: Vec<Event>,
    pub threads: Vec<ThreadInfo>,
    /// (first order number, nanoseconds since the start) of each chunk, by order number: when
    /// things happened, to a chunk's resolution.
    pub times: Vec<(u64, u64)>,
    pub file_bytes: u64,
    /// Bytes of headers and committed events (the file may hold unused space at the end).
    pub used_bytes: u64,
    /// Where a truncated file was cut, if it was.
    pub truncated: Option<String>,
}

impl Trace {
    /// Nanoseconds from the start to about when event `seq` happened.
    pub fn time_of(&self, seq: u64) -> u64 {
        match self.times.partition_point(|&(s, _)| s <= seq) {
            0 => 0,
            i => self.times[i - 1].1,
        }
    }
}

struct ChunkRef {
    offset: usize,
    thread: u32,
    tid: u32,
    base: u64,
    time: u64,
    /// The committed bytes present in the file.
    bytes: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads and decodes a trace file.
pub fn read(path: &Path, allow_truncated: bool) -> Result<Trace> {
    let data = std::fs::read(path).with_context(|| format!("cannot read the trace {}", path.display()))?;
    parse(&data, allow_truncated).with_context(|| format!("{} is not a readable trace", path.display()))
}

struct Header {
    pid: u32,
    ppid: u32,
    program: String,
    forked: bool,
    used_bytes: u64,
}

/// Checks the header and finds the chunks; also says where a truncated file was cut.
fn walk(data: &[u8], allow_truncated: bool) -> Result<(Header, Vec<ChunkRef>, Option<String>)> {
    if data.len() < FILE_HEADER || &data[..8] != FILE_MAGIC {
        bail!("it does not start with the trace magic JEMTRACE (record one with `jemctl record -o FILE -- PROGRAM`)");
    }
    let version = u32_at(data, 8);
    if version != VERSION {
        bail!("it is a version {version} trace; this jemctl reads version {VERSION}");
    }
    let first = u32_at(data, 12) as usize;
    if first < FILE_HEADER || !first.is_multiple_of(4096) {
        bail!("corrupt header: first chunk at offset {first}");
    }
    let program: String =
        data[48..64].iter().take_while(|&&b| b != 0).map(|&b| if b.is_ascii_graphic() { b as char } else { '_' }).collect();
    let mut chunks = Vec::new();
    let mut truncated = None;
    let mut offset = first;
    let mut used = first as u64;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() >= 4 && rest[..4] == [0; 4] {
            break;
        }
        if rest.len() < CHUNK_HEADER {
            truncated = Some(format!("the file ends inside the header of the chunk at offset {offset}"));
            break;
        }
        if &rest[..4] != CHUNK_MAGIC {
            bail!("corrupt: no chunk magic at offset {offset}");
        }
        let committed = u32_at(rest, 4) as usize;
        let size = u32_at(rest, 8) as usize;
        if size < CHUNK_HEADER + 1 || !size.is_multiple_of(4096) || committed > size - CHUNK_HEADER {
            bail!("corrupt: the chunk at offset {offset} has size {size} and claims {committed} bytes of events");
        }
        let present = (rest.len() - CHUNK_HEADER).min(committed);
        chunks.push(ChunkRef {
            offset,
            thread: u32_at(rest, 12),
            tid: u32_at(rest, 16),
            base: u64_at(rest, 24),
            time: u64_at(rest, 32),
            bytes: present,
        });
        used += (CHUNK_HEADER + present) as u64;
        // The writer keeps the file at least as long as every chunk it reserved.
        if rest.len() < size {
            truncated = Some(format!(
                "the file ends inside the chunk at offset {offset} ({} of its {size} bytes; {present} of its {committed} bytes of events)",
                rest.len()
            ));
            break;
        }
        offset += size;
    }
    if let Some(t) = &truncated {
        if !allow_truncated {
            bail!("truncated: {t}; pass --allow-truncated to use the complete events before the cut");
        }
    }
    let header = Header { pid: u32_at(data, 16), ppid: u32_at(data, 20), program, forked: u32_at(data, 40) & 1 != 0, used_bytes: used };
    Ok((header, chunks, truncated))
}

/// Decodes a trace held in memory.
pub fn parse(data: &[u8], allow_truncated: bool) -> Result<Trace> {
    let (header, chunks, truncated) = walk(data, allow_truncated)?;
    let decoded: Vec<Vec<Event>> = chunks
        .par_iter()
        .map(|c| {
            let body = &data[c.offset + CHUNK_HEADER..c.offset + CHUNK_HEADER + c.bytes];
            decode_chunk(body, c.base, c.thread, truncated.is_some())
                .with_context(|| format!("corrupt: the chunk at offset {}", c.offset))
        })
        .collect::<Result<_>>()?;
    let mut events: Vec<Event> = decoded.into_iter().flatten().collect();
    events.par_sort_unstable_by_key(|e| e.seq);
    if let Some(w) = events.windows(2).find(|w| w[0].seq == w[1].seq) {
        bail!("corrupt: two events have the order number {}", w[0].seq);
    }
    let mut threads: Vec<ThreadInfo> = chunks.iter().map(|c| ThreadInfo { thread: c.thread, tid: c.tid }).collect();
    threads.sort_by_key(|t| t.thread);
    threads.dedup_by_key(|t| t.thread);
    let mut times: Vec<(u64, u64)> = chunks.iter().map(|c| (c.base, c.time)).collect();
    times.sort_unstable();
    Ok(Trace {
        pid: header.pid,
        ppid: header.ppid,
        program: header.program,
        forked: header.forked,
        events,
        threads,
        times,
        file_bytes: data.len() as u64,
        used_bytes: header.used_bytes,
        truncated,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let Some(&v) = self.b.get(self.pos) else { bail!("an event is cut off at byte {}", self.pos) };
        self.pos += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("a number at byte {start} does not fit in 64 bits")
    }

    fn ptr(&mut self, prev: &mut u64) -> Result<u64> {
        let u = self.varint()?;
        if u == 0 {
            return Ok(0);
        }
        let u = u - 1;
        let unzig = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
        let d = if u & 1 == 0 { unzig(u >> 1).wrapping_mul(16) } else { unzig(u >> 1) };
        let p = prev.wrapping_add(d as u64);
        *prev = p;
        Ok(p)
    }
}

/// Decodes one chunk's committed events; with `lenient`, an event cut off at the end is dropped.
fn decode_chunk(body: &[u8], base: u64, thread: u32, lenient: bool) -> Result<Vec<Event>> {
    let mut events = Vec::with_capacity(body.len() / 4);
    each_event(body, base, thread, lenient, |e| events.push(e))?;
    Ok(events)
}

fn each_event(body: &[u8], base: u64, thread: u32, lenient: bool, mut f: impl FnMut(Event)) -> Result<()> {
    let mut r = Reader { b: body, pos: 0 };
    let mut seq = base;
    let mut prev = 0u64;
    while r.pos < body.len() {
        let at = r.pos;
        match decode_event(&mut r, &mut seq, &mut prev, thread) {
            Ok(e) => f(e),
            Err(_) if lenient && r.pos >= body.len() => break,
            Err(e) => return Err(e.context(format!("event at byte {at}"))),
        }
    }
    Ok(())
}

/// A trace's size at a glance, without keeping its events.
pub struct Survey {
    pub program: String,
    pub ppid: u32,
    pub forked: bool,
    pub events: u64,
    pub threads: usize,
    pub used_bytes: u64,
}

/// Counts a trace's events (decoding every chunk, in parallel) without keeping them.
pub fn survey(path: &Path) -> Result<Survey> {
    let data = std::fs::read(path).with_context(|| format!("cannot read the trace {}", path.display()))?;
    let (header, chunks, _) = walk(&data, true).with_context(|| format!("{} is not a readable trace", path.display()))?;
    let events = chunks
        .par_iter()
        .map(|c| {
            let mut n = 0u64;
            let body = &data[c.offset + CHUNK_HEADER..c.offset + CHUNK_HEADER + c.bytes];
            each_event(body, c.base, c.thread, true, |_| n += 1).map(|_| n)
        })
        .collect::<Result<Vec<u64>>>()
        .with_context(|| format!("{} is corrupt", path.display()))?
        .iter()
        .sum();
    let mut threads: Vec<u32> = chunks.iter().map(|c| c.thread).collect();
    threads.sort_unstable();
    threads.dedup();
    Ok(Survey {
        program: header.program,
        ppid: header.ppid,
        forked: header.forked,
        events,
        threads: threads.len(),
        used_bytes: header.used_bytes,
    })
}

fn decode_event(r: &mut Reader<'_>, seq: &mut u64, prev: &mut u64, thread: u32) -> Result<Event> {
    let tag = r.byte()?;
    let Some(op) = Op::from_tag(tag & 0x0f).filter(|_| tag & 0xe0 == 0) else {
        bail!("unknown event tag {tag:#04x}");
    };
    let delta = if tag & NEXT_SEQ != 0 { 1 } else { r.varint()? };
    let Some(s) = seq.checked_add(delta) else { bail!("order number overflows") };
    *seq = s;
    let mut e = Event { seq: s, thread, op, old: 0, new: 0, size: 0, align: 0, flags: 0 };
    match op {
        Op::Malloc | Op::Valloc | Op::Pvalloc => {
            e.size = r.varint()?;
            e.new = r.ptr(prev)?;
            if op != Op::Malloc {
                e.align = 4096;
            }
        }
        Op::Calloc => {
            let n = r.varint()?;
            e.size = n.saturating_mul(r.varint()?);
            e.new = r.ptr(prev)?;
            e.flags = 1;
        }
        Op::Realloc => {
            e.old = r.ptr(prev)?;
            e.size = r.varint()?;
            e.new = r.ptr(prev)?;
        }
        Op::Free => e.old = r.ptr(prev)?,
        Op::PosixMemalign | Op::AlignedAlloc | Op::Memalign => {
            e.align = r.varint()?;
            e.size = r.varint()?;
            e.new = r.ptr(prev)?;
        }
        Op::Allocm => {
            e.size = r.varint()?;
            e.flags = flags(r.varint()?)?;
            e.new = r.ptr(prev)?;
            e.align = allocm_align(e.flags);
        }
        Op::Rallocm => {
            e.old = r.ptr(prev)?;
            e.size = r.varint()?;
            let _extra = r.varint()?;
            e.flags = flags(r.varint()?)?;
            e.new = r.ptr(prev)?;
            e.align = allocm_align(e.flags);
        }
        Op::Dallocm => {
            e.old = r.ptr(prev)?;
            e.flags = flags(r.varint()?)?;
        }
    }
    Ok(e)
}

fn flags(v: u64) -> Result<u32> {
    u32::try_from(v).map_err(|_| anyhow::anyhow!("allocm flags {v} do not fit in an int"))
}

/// The alignment `ALLOCM_LG_ALIGN` asks for (low six bits), 0 if none.
fn allocm_align(flags: u32) -> u64 {
    match flags & 0x3f {
        0 => 0,
        lg => 1u64.checked_shl(lg).unwrap_or(0),
    }
}

/// `ALLOCM_ZERO`.
pub const ALLOCM_ZERO: u32 = 0x40;

#[cfg(test)]
mod tests;
