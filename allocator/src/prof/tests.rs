use super::*;

#[test]
fn ln_matches_std() {
    for &x in &[1e-300, 1e-10, 0.001, 0.25, 0.5, 0.7072, 0.9, 0.999999, 1.0 - 1.0 / 524288.0, 1.0, 2.0, 12345.678] {
        let want = f64::ln(x);
        assert!((ln(x) - want).abs() <= 1e-12 * want.abs().max(1e-6), "ln({x}) = {} want {want}", ln(x));
    }
}

#[test]
fn file_names_follow_the_manual() {
    let mut n = dump::Name::new();
    dump::format_name(&mut n, b"jeprof", 4242, 0, 'f', None);
    assert_eq!(n.as_str(), "jeprof.4242.0.f.heap");
    dump::format_name(&mut n, b"/tmp/app", 7, 12, 'i', Some(3));
    assert_eq!(n.as_str(), "/tmp/app.7.12.i3.heap");
    dump::format_name(&mut n, b"p", 1, 2, 'm', Some(0));
    assert_eq!(n.as_str(), "p.1.2.m0.heap");
}

#[test]
fn sample_table_inserts_and_removes() {
    let c = ctx::lookup_global(&[1, 2, 3], ctx::hash(&[1, 2, 3]));
    assert!(!c.is_null());
    let base = 0x7000_0000_0000usize;
    for i in 0..5000 {
        assert!(samples::insert((base + i * 16) as *const u8, c, i));
    }
    for i in (0..5000).step_by(2) {
        assert_eq!(samples::remove((base + i * 16) as *const u8), Some((c, i)));
    }
    for i in 0..5000 {
        let got = samples::remove((base + i * 16) as *const u8);
        assert_eq!(got, if i % 2 == 1 { Some((c, i)) } else { None }, "{i}");
    }
}

#[test]
fn contexts_are_shared_by_backtrace() {
    let a = ctx::lookup_global(&[10, 20], ctx::hash(&[10, 20]));
    let b = ctx::lookup_global(&[10, 20], ctx::hash(&[10, 20]));
    let c = ctx::lookup_global(&[10, 21], ctx::hash(&[10, 21]));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut cache = ctx::ThreadCache::EMPTY;
    assert_eq!(cache.lookup(&[10, 20], 2), a);
    assert_eq!(cache.lookup(&[10, 21], 2), c);
    assert_eq!(cache.len(), 2);
    let d = cache.lookup(&[10, 22], 2);
    assert!(cache.len() <= 2, "the cache keeps to its limit");
    assert_eq!(cache.lookup(&[10, 22], 2), d);
}

#[test]
fn thresholds_average_the_rate() {
    LN_KEEP.store(ln(1.0 - 1.0 / 1024.0).to_bits(), Ordering::Relaxed);
    let mut st = 12345u64;
    let n = 20000;
    let sum: u64 = (0..n).map(|_| next_threshold(&mut st)).sum();
    let mean = sum as f64 / n as f64;
    assert!((mean - 1024.0).abs() < 40.0, "mean {mean}");
}
