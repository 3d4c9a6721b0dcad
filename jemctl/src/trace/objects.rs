//! From addresses to objects: one pass over a trace in order that gives each allocation an
//! object number and says, for each event, which object it ended and which it started.
//!
//! An address names a live object from its allocation to its free; `realloc` ends the old
//! object and starts a new one. What the program did that the recorder could not see is
//! counted, not guessed at: a free of an address that is not live (allocated before recording
//! started, or freed twice) is an unknown free, and an allocation returning an address that is
//! still live (the rare race the format describes) ends the old object there, unfreed.

use super::format::{Event, Op, Trace};
use std::collections::HashMap;

/// No object.
pub const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub struct Object {
    pub size: u64,
    pub alloc_seq: u64,
    pub alloc_thread: u32,
    /// Order number of the event that ended it; `u64::MAX` if it is live at the end.
    pub end_seq: u64,
    pub end_thread: u32,
    /// Ended by a free or realloc (not by an address reused while it looked live).
    pub freed: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub objects: Vec<Object>,
    /// Per event: the object it ended, or [`NONE`].
    pub ended: Vec<u32>,
    /// Per event: the object it started, or [`NONE`].
    pub started: Vec<u32>,
    pub unknown_frees: u64,
    pub null_frees: u64,
    pub failed_allocations: u64,
    pub reused_while_live: u64,
}

/// Whether `e` ends the object at `e.old`: frees always; a reallocation when it succeeded, or
/// when it was `realloc(p, 0)` and returned NULL (the C library freed `p`).
fn ends_old(e: &Event) -> bool {
    match e.op {
        Op::Free | Op::Dallocm => true,
        Op::Realloc => e.new != 0 || e.size == 0,
        Op::Rallocm => e.new != 0,
        _ => false,
    }
}

pub fn resolve(trace: &Trace) -> Objects {
    let n = trace.events.len();
    let mut o = Objects { ended: vec![NONE; n], started: vec![NONE; n], ..Default::default() };
    let mut live: HashMap<u64, u32> = HashMap::new();
    for (i, e) in trace.events.iter().enumerate() {
        let frees = matches!(e.op, Op::Free | Op::Dallocm);
        if e.old != 0 && ends_old(e) {
            match live.remove(&e.old) {
                Some(id) => {
                    let obj = &mut o.objects[id as usize];
                    obj.end_seq = e.seq;
                    obj.end_thread = e.thread;
                    obj.freed = true;
                    o.ended[i] = id;
                }
                None => o.unknown_frees += 1,
            }
        } else if frees && e.old == 0 {
            o.null_frees += 1;
        }
        if frees {
            continue;
        }
        if e.new == 0 {
            if !(e.op == Op::Realloc && e.size == 0 && e.old != 0) {
                o.failed_allocations += 1;
            }
            continue;
        }
        let id = o.objects.len() as u32;
        o.objects.push(Object {
            size: e.size,
            alloc_seq: e.seq,
            alloc_thread: e.thread,
            end_seq: u64::MAX,
            end_thread: u32::MAX,
            freed: false,
        });
        o.started[i] = id;
        if let Some(old) = live.insert(e.new, id) {
            o.reused_while_live += 1;
            let obj = &mut o.objects[old as usize];
            obj.end_seq = e.seq;
            obj.end_thread = e.thread;
        }
    }
    o
}
