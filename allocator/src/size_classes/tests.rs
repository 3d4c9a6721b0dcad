use super::*;

#[test]
fn defaults_match_table_1() {
    let sc = SizeClasses::default_classes();
    let sizes: Vec<usize> = sc.bins().iter().map(|b| b.reg_size as usize).collect();
    let tiny: Vec<usize> = sc.bins().iter().filter(|b| b.kind == SmallKind::Tiny).map(|b| b.reg_size as usize).collect();
    // The tiny class exists unless the `tiny` feature (--disable-tiny) is off.
    let ntiny = usize::from(cfg!(feature = "tiny"));
    assert_eq!(tiny, vec![8; ntiny]);
    let q: Vec<usize> = sc.bins().iter().filter(|b| b.kind == SmallKind::Quantum).map(|b| b.reg_size as usize).collect();
    assert_eq!(q, (1..=8).map(|k| 16 * k).collect::<Vec<_>>());
    let c: Vec<usize> = sc.bins().iter().filter(|b| b.kind == SmallKind::Cacheline).map(|b| b.reg_size as usize).collect();
    assert_eq!(c, vec![192, 256, 320, 384, 448, 512]);
    let s: Vec<usize> = sc.bins().iter().filter(|b| b.kind == SmallKind::Subpage).map(|b| b.reg_size as usize).collect();
    assert_eq!(s.first(), Some(&768));
    assert_eq!(s.last(), Some(&3840));
    assert_eq!(s.len(), (3840 - 768) / 256 + 1);
    assert_eq!(sizes.len(), sc.nbins);
    assert_eq!(sc.nbins, ntiny + 8 + 6 + 13);
    assert_eq!(sc.arena_maxclass, 4072 * 1024);
    assert_eq!(sc.nlclasses, 1018);
    assert_eq!(sc.chunk_size, 4 << 20);
}

#[test]
fn other_options_move_the_boundaries() {
    let sc = SizeClasses::new(20, 8, 10).unwrap();
    assert_eq!(sc.qspace_max, 256);
    assert_eq!(sc.cspace_min, 320);
    assert_eq!(sc.cspace_max, 1024);
    assert_eq!(sc.sspace_min, 1280);
    assert_eq!(sc.nqbins, 16);
    assert_eq!(sc.ncbins, 12);
    assert_eq!(sc.nsbins, 11);
    assert_eq!(sc.arena_maxclass, (1 << 20) - 2 * PAGE);
    assert!(SizeClasses::new(40, 7, 9).is_err());
    assert!(SizeClasses::new(22, 9, 9).is_err());
}

#[test]
fn size2bin_picks_the_smallest_class_that_fits() {
    for (lg_chunk, q, c) in [(22, 7, 9), (20, 8, 10), (14, 4, 6), (24, 10, 11)] {
        let sc = SizeClasses::new(lg_chunk, q, c).unwrap();
        for size in 1..=sc.sspace_max {
            let b = sc.small_bin(size);
            assert!(sc.bins[b].reg_size as usize >= size, "size {size}");
            assert!(b == 0 || (sc.bins[b - 1].reg_size as usize) < size, "size {size}");
        }
    }
}

#[test]
fn runs_fit_and_regions_are_aligned() {
    let sc = SizeClasses::default_classes();
    for b in sc.bins() {
        assert!(b.nregs >= 1 && b.nregs as usize <= RUN_MAX_REGS);
        assert!(b.reg0_offset as usize >= run_header_size(b.nregs as usize));
        assert_eq!(b.reg0_offset % b.reg_align, 0);
        assert!(b.reg0_offset as usize + b.nregs as usize * b.reg_size as usize <= b.run_size());
        // Region index by reciprocal multiplication is exact for every byte of every region.
        for i in 0..b.nregs as usize {
            for off in [0, b.reg_size as usize - 1] {
                assert_eq!(b.region_index(i * b.reg_size as usize + off), i);
            }
        }
    }
}

#[test]
fn aligned_sizes_are_multiples_of_the_alignment() {
    let sc = SizeClasses::default_classes();
    for lg in 3..=12 {
        let a = 1usize << lg;
        for size in [1, 7, 8, 9, 24, 100, 129, 1000, 3000, 4096] {
            let u = sc.aligned_usable_size(size, a).unwrap();
            assert!(u >= size);
            if u <= sc.sspace_max {
                let b = &sc.bins[sc.small_bin(u)];
                assert_eq!(b.reg_size as usize, u);
                assert!(b.reg_align as usize >= a, "size {size} align {a} class {u}");
            }
        }
    }
    assert_eq!(sc.aligned_usable_size(1, 8192), Some(4096));
    assert_eq!(sc.aligned_usable_size(usize::MAX, 8), None);
}
