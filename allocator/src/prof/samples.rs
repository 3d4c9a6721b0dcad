//! The sampled objects: address -> (context, size), so that `free` can uncount them.
//!
//! jemalloc 2.2.1 keeps a sampled object's context in the page map (large objects) or in a
//! per-region array of the run (small objects, when not promoted). This table does the same
//! job beside the arenas, so that profiling changes no arena structure: 64 stripes, each an
//! open-addressing table with linear probing and backward-shift deletion, under its own lock,
//! its slots mapped from the OS (and unmapped when it grows). Only sampled objects enter it;
//! with `opt.lg_prof_sample` above the page size (2^12) small objects are never sampled in
//! place (they are promoted to one page, as 2.2.1 does), so a small `free` never looks here.

use super::ctx::Ctx;
use crate::mutex::Mutex;
use core::ptr;

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    /// The object's address; 0 for an empty slot.
    addr: usize,
    ctx: *mut Ctx,
    size: usize,
}

struct Stripe {
    slots: *mut Slot,
    cap: usize,
    len: usize,
}

// SAFETY: the slots are mapped memory, reachable from any thread under the stripe's lock.
unsafe impl Send for Stripe {}

const LG_STRIPES: u32 = 6;
const NSTRIPES: usize = 1 << LG_STRIPES;
static STRIPES: [Mutex<Stripe>; NSTRIPES] = [const { Mutex::new(Stripe { slots: ptr::null_mut(), cap: 0, len: 0 }) }; NSTRIPES];

fn mix(addr: usize) -> u64 {
    let h = (addr as u64 >> 4).wrapping_mul(0x9e3779b97f4a7c15);
    h ^ (h >> 32)
}

fn stripe_of(h: u64) -> &'static Mutex<Stripe> {
    &STRIPES[(h >> (64 - LG_STRIPES)) as usize]
}

/// Calls `f` on every stripe lock (fork handlers).
pub(crate) fn for_each_lock(f: &mut dyn FnMut(&crate::mutex::RawMutex)) {
    for s in &STRIPES {
        f(s.raw());
    }
}

impl Stripe {
    fn index(&self, h: u64) -> usize {
        h as usize & (self.cap - 1)
    }

    fn grow(&mut self) -> bool {
        let cap = (self.cap * 2).max(crate::size_classes::PAGE / core::mem::size_of::<Slot>()).next_power_of_two();
        let slots = crate::pages::map(ptr::null_mut(), cap * core::mem::size_of::<Slot>()) as *mut Slot;
        if slots.is_null() {
            return false;
        }
        let (old, old_cap) = (self.slots, self.cap);
        self.slots = slots;
        self.cap = cap;
        self.len = 0;
        for i in 0..old_cap {
            // SAFETY: the old table's slots, still mapped.
            let s = unsafe { *old.add(i) };
            if s.addr != 0 {
                self.put(s);
            }
        }
        if !old.is_null() {
            crate::pages::unmap(old.cast(), old_cap * core::mem::size_of::<Slot>());
        }
        true
    }

    fn put(&mut self, s: Slot) {
        let mut i = self.index(mix(s.addr));
        loop {
            // SAFETY: i is masked into cap; the table is never full (load <= 1/2).
            unsafe {
                let slot = &mut *self.slots.add(i);
                if slot.addr == 0 || slot.addr == s.addr {
                    if slot.addr == 0 {
                        self.len += 1;
                    }
                    *slot = s;
                    return;
                }
            }
            i = (i + 1) & (self.cap - 1);
        }
    }

    fn take(&mut self, addr: usize) -> Option<(*mut Ctx, usize)> {
        if self.len == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let mut i = self.index(mix(addr));
        // SAFETY: every index is masked into cap; an empty slot ends each probe run.
        unsafe {
            loop {
                let s = *self.slots.add(i);
                if s.addr == 0 {
                    return None;
                }
                if s.addr == addr {
                    break;
                }
                i = (i + 1) & mask;
            }
            let found = *self.slots.add(i);
            // Backward shift: pull later members of the run into the hole when their home
            // slot lies at or before it (cyclically).
            let mut hole = i;
            let mut j = (i + 1) & mask;
            loop {
                let s = *self.slots.add(j);
                if s.addr == 0 {
                    break;
                }
                let home = self.index(mix(s.addr));
                if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                    *self.slots.add(hole) = s;
                    hole = j;
                }
                j = (j + 1) & mask;
            }
            (*self.slots.add(hole)).addr = 0;
            self.len -= 1;
            Some((found.ctx, found.size))
        }
    }
}

/// Records a sampled object; false when out of memory (the caller then does not count it).
pub fn insert(addr: *const u8, ctx: *mut Ctx, size: usize) -> bool {
    let addr = addr as usize;
    let mut st = stripe_of(mix(addr)).lock();
    if (st.len + 1) * 2 > st.cap && !st.grow() {
        return false;
    }
    st.put(Slot { addr, ctx, size });
    true
}

/// Forgets the object at `addr` if it was sampled, returning its context and size.
pub fn remove(addr: *const u8) -> Option<(*mut Ctx, usize)> {
    let addr = addr as usize;
    stripe_of(mix(addr)).lock().take(addr)
}
