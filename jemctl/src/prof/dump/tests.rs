use super::*;

const V2: &str = "heap profile: 3: 12288 [5: 20480] @ heapprofile
2: 8192 [3: 12288] @ 0x7f0000001010 0x555500001139 0x555500001180
1: 4096 [2: 8192] @ 0x7f0000001010 0x555500001150

MAPPED_LIBRARIES:
555500000000-555500001000 r--p 00000000 fe:00 42                         /usr/bin/prog
555500001000-555500002000 r-xp 00001000 fe:00 42                         /usr/bin/prog
7f0000000000-7f0000002000 r-xp 00000000 fe:00 43                         /usr/lib/lib with space.so
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
";

#[test]
fn reads_jemalloc_2_2_1_dumps() {
    let p = Profile::parse(V2).unwrap();
    assert_eq!(p.format, Format::Jemalloc2);
    assert_eq!(p.sampling, Sampling::Every);
    assert_eq!(p.totals, Counts { inuse_objects: 3, inuse_bytes: 12288, alloc_objects: 5, alloc_bytes: 20480 });
    assert_eq!(p.stacks.len(), 2);
    assert_eq!(p.stacks[0].frames, vec![0x7f0000001010, 0x555500001139, 0x555500001180]);
    assert_eq!(p.stacks[1].counts.alloc_bytes, 8192);
    assert_eq!(p.maps.len(), 4);
    assert!(p.has_alloc_counts());
    let exe = p.mapping_of(0x555500001139).unwrap();
    assert_eq!((exe.offset, exe.executable), (0x1000, true));
    assert_eq!(exe.path.as_deref(), Some(std::path::Path::new("/usr/bin/prog")));
    assert_eq!(p.mapping_of(0x7f0000001010).unwrap().path.as_deref(), Some(std::path::Path::new("/usr/lib/lib with space.so")));
    assert_eq!(p.mapping_of(0x7ffd00000010).unwrap().path, None);
    assert!(p.mapping_of(0x1000).is_none());
}

#[test]
fn reads_the_sampled_header_and_gperftools_spacing() {
    let p = Profile::parse("heap profile:    1:   524288 [     0:        0] @ heap_v2/524288\n     1:   524288 [     0:        0] @ 0x1\n").unwrap();
    assert_eq!(p.sampling, Sampling::Rate(524288));
    assert_eq!(p.stacks[0].counts.inuse_bytes, 524288);
    assert!(!p.has_alloc_counts());
    assert!(p.maps.is_empty());
}

const V5: &str = "heap_v2/524288
  t*: 28106: 56637512 [0: 0]
  t0: 28106: 56637512 [0: 0]
  t1: 0: 0 [0: 0]
@ 0x7f2ed86a2630 0x55e8c84ca162
  t*: 13: 6688 [0: 0]
  t0: 13: 6688 [0: 0]
@ 0x7f2ed86a2630 0x55e8c84ca170 0x55e8c84ca1b8
  t*: 28093: 56630824 [1: 2]
  t0: 28093: 56630824 [0: 0]

MAPPED_LIBRARIES:
55e8c84c9000-55e8c84ca000 r--p 00000000 fe:00 10010689                   /tmp/t
";

#[test]
fn reads_jemalloc_5_dumps_with_thread_lines() {
    let p = Profile::parse(V5).unwrap();
    assert_eq!(p.format, Format::Jemalloc5);
    assert_eq!(p.sampling, Sampling::Rate(524288));
    assert_eq!(p.totals.inuse_bytes, 56637512);
    assert_eq!(p.threads, 2);
    assert_eq!(p.stacks.len(), 2);
    assert_eq!(p.stacks[1].frames.len(), 3);
    assert_eq!(p.stacks[1].counts, Counts { inuse_objects: 28093, inuse_bytes: 56630824, alloc_objects: 1, alloc_bytes: 2 });
    assert_eq!(p.maps.len(), 1);
}

#[test]
fn unsampling_follows_pprof() {
    let p = Profile::parse("heap profile: 1: 1 [1: 1] @ heap_v2/1024\n").unwrap();
    // 10 sampled objects of 512 bytes: each is sampled with probability 1 - exp(-0.5).
    let c = Counts { inuse_objects: 10, inuse_bytes: 5120, alloc_objects: 20, alloc_bytes: 20 * 4096 };
    let e = p.unsampled(&c);
    let s = 1.0 / (1.0 - (-0.5f64).exp());
    assert!((e.inuse_objects - 10.0 * s).abs() < 1e-9 && (e.inuse_bytes - 5120.0 * s).abs() < 1e-6);
    // Objects far larger than the rate are always sampled.
    assert!((e.alloc_bytes / (20.0 * 4096.0) - 1.0).abs() < 0.02);
    assert_eq!(p.unsampled(&Counts::default()), Estimate::default());
    let exact = Profile::parse("heap profile: 1: 1 [1: 1] @ heapprofile\n").unwrap();
    assert_eq!(exact.unsampled(&c).inuse_bytes, 5120.0);
}

#[test]
fn malformed_dumps_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty"),
        ("\u{7f}ELF\u{2}\u{1}", 1, "not a heap profile"),
        ("heap profile: 1: 2 [3: 4] @ heap_v3/9\n", 1, "unknown sampling"),
        ("heap profile: 1: 2 [3: 4] @ heap_v2/0\n", 1, "unknown sampling"),
        ("heap profile: 1: 2 [3 4] @ heapprofile\n", 1, "expected '<objects>"),
        ("heap profile: 1: 2 [3: 4] @ heapprofile\n1: 2 [3: 4] @ 0x10 zz\n", 2, "'zz' is not a hexadecimal"),
        ("heap profile: 1: 2 [3: 4] @ heapprofile\n\n1: x [3: 4] @ 0x10\n", 3, "expected '<objects>"),
        ("heap profile: 1: 2 [3: 4] @ heapprofile\n1: 2 [3: 4] 0x10\n", 2, "expected '<objects>"),
        ("heap_v2/abc\n", 1, "positive rate"),
        ("heap_v2/8\n@ 0x10\n  t*: 1: 2 [0: 0]\n", 1, "'t*:' totals line is missing"),
        ("heap_v2/8\n  t*: 1: 2 [0: 0]\n@ 0x10\n  t0: 1: 2 [0: 0]\n", 4, "followed by its 't*:' line"),
        ("heap_v2/8\n  t*: 1: 2 [0: 0]\n  t*: 1: 2 [0: 0]\n", 3, "follows no backtrace"),
        ("heap_v2/8\n  t*: 1: 2 [0: 0]\nbogus\n", 3, "found 'bogus'"),
    ];
    for (text, line, words) in cases {
        let e = Profile::parse(text).unwrap_err();
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.to_string().contains(words), "{text:?}: {e}");
    }
}

#[test]
fn maps_lines_that_are_not_mappings_are_skipped() {
    let p = Profile::parse("heap profile: 0: 0 [0: 0] @ heapprofile\n\nMAPPED_LIBRARIES:\nnonsense\n400000-401000 r-xp 00000000 08:01 7 /bin/x\n").unwrap();
    assert_eq!(p.maps.len(), 1);
    assert_eq!(p.maps[0].start, 0x400000);
}
