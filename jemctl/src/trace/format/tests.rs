//! The reader against traces built here byte by byte, as `docs/trace-format.md` describes.

use super::{parse, Op};

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn ptr(out: &mut Vec<u8>, prev: &mut u64, p: u64) {
    if p == 0 {
        return varint(out, 0);
    }
    let d = p.wrapping_sub(*prev) as i64;
    let zz = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let u = if d & 15 == 0 { zz(d >> 4) << 1 } else { (zz(d) << 1) | 1 };
    varint(out, u + 1);
    *prev = p;
}

fn header() -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(b"JEMTRACE");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&4096u32.to_le_bytes());
    h[16..20].copy_from_slice(&42u32.to_le_bytes());
    h[48..52].copy_from_slice(b"prog");
    h
}

fn chunk(thread: u32, base: u64, events: &[u8]) -> Vec<u8> {
    let mut c = vec![0u8; 4096];
    c[..4].copy_from_slice(b"CHNK");
    c[4..8].copy_from_slice(&(events.len() as u32).to_le_bytes());
    c[8..12].copy_from_slice(&4096u32.to_le_bytes());
    c[12..16].copy_from_slice(&thread.to_le_bytes());
    c[24..32].copy_from_slice(&base.to_le_bytes());
    c[40..40 + events.len()].copy_from_slice(events);
    c
}

/// Thread 0: malloc(100) = 0x1000 (order 0), realloc(0x1000, 5000) = 0x7f00_0000_0008 (2);
/// thread 1: calloc(3, 7) = 0x2010 (1) and free(0x7f00_0000_0008) (3).
fn two_threads() -> Vec<u8> {
    let mut t0 = Vec::new();
    let mut prev = 0;
    t0.push(Op::Malloc as u8);
    varint(&mut t0, 0);
    varint(&mut t0, 100);
    ptr(&mut t0, &mut prev, 0x1000);
    t0.push(Op::Realloc as u8);
    varint(&mut t0, 2);
    ptr(&mut t0, &mut prev, 0x1000);
    varint(&mut t0, 5000);
    ptr(&mut t0, &mut prev, 0x7f00_0000_0008);
    let mut t1 = Vec::new();
    let mut prev = 0;
    t1.push(Op::Calloc as u8 | 0x10);
    varint(&mut t1, 3);
    varint(&mut t1, 7);
    ptr(&mut t1, &mut prev, 0x2010);
    t1.push(Op::Free as u8);
    varint(&mut t1, 2);
    ptr(&mut t1, &mut prev, 0x7f00_0000_0008);
    let mut file = header();
    file.extend(chunk(0, 0, &t0));
    file.extend(chunk(1, 0, &t1));
    file
}

#[test]
fn events_of_two_threads_merge_in_order() {
    let t = parse(&two_threads(), false).unwrap();
    let ops: Vec<(u64, u32, Op)> = t.events.iter().map(|e| (e.seq, e.thread, e.op)).collect();
    assert_eq!(ops, [(0, 0, Op::Malloc), (1, 1, Op::Calloc), (2, 0, Op::Realloc), (3, 1, Op::Free)]);
    assert_eq!((t.events[0].size, t.events[0].new), (100, 0x1000));
    assert_eq!((t.events[1].size, t.events[1].new), (21, 0x2010));
    assert_eq!((t.events[2].old, t.events[2].size, t.events[2].new), (0x1000, 5000, 0x7f00_0000_0008));
    assert_eq!(t.events[3].old, 0x7f00_0000_0008);
    assert_eq!((t.pid, t.program.as_str(), t.threads.len()), (42, "prog", 2));
    assert!(t.truncated.is_none());
}

#[test]
fn zeros_after_the_last_chunk_end_the_trace() {
    let mut f = two_threads();
    f.extend(vec![0u8; 8192]);
    assert_eq!(parse(&f, false).unwrap().events.len(), 4);
}

#[test]
fn a_file_cut_inside_a_chunk_is_truncated_unless_allowed() {
    let f = two_threads();
    // The second chunk's events are 9 bytes: cut after its first event (5 bytes).
    let cut = &f[..4096 * 2 + 40 + 6];
    let e = parse(cut, false).unwrap_err().to_string();
    assert!(e.contains("truncated") && e.contains("--allow-truncated"), "{e}");
    let t = parse(cut, true).unwrap();
    assert_eq!(t.events.len(), 3);
    assert!(t.truncated.as_deref().unwrap().contains("offset 8192"));
    let header_cut = &f[..4096 * 2 + 10];
    assert_eq!(parse(header_cut, true).unwrap().events.len(), 2);
}

#[test]
fn corruption_is_an_error_naming_the_place() {
    let mut bad_tag = two_threads();
    bad_tag[4096 + 40] = 0xff;
    let e = format!("{:#}", parse(&bad_tag, true).unwrap_err());
    assert!(e.contains("corrupt") && e.contains("offset 4096") && e.contains("0xff"), "{e}");

    let mut bad_count = two_threads();
    bad_count[4096 + 4..4096 + 8].copy_from_slice(&5000u32.to_le_bytes());
    assert!(parse(&bad_count, true).unwrap_err().to_string().contains("claims 5000 bytes"));

    let mut bad_magic = two_threads();
    bad_magic[8192] = b'X';
    assert!(parse(&bad_magic, true).unwrap_err().to_string().contains("no chunk magic at offset 8192"));

    let mut version = two_threads();
    version[8] = 9;
    assert!(parse(&version, true).unwrap_err().to_string().contains("version 9"));

    assert!(parse(b"hello", true).unwrap_err().to_string().contains("JEMTRACE"));

    let mut dup = two_threads();
    // Thread 0's chunk starts at 1: its malloc gets order number 1, as thread 1's calloc.
    dup[4096 + 24] = 1;
    let e = format!("{:#}", parse(&dup, true).unwrap_err());
    assert!(e.contains("order number"), "{e}");
}

#[test]
fn a_number_too_long_is_corruption_not_a_crash() {
    let mut f = header();
    let mut ev = vec![Op::Malloc as u8 | 0x10];
    ev.extend([0xff; 11]);
    f.extend(chunk(0, 0, &ev));
    let e = format!("{:#}", parse(&f, true).unwrap_err());
    assert!(e.contains("64 bits") || e.contains("cut off"), "{e}");
}
