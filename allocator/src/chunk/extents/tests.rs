use super::*;

const C: usize = 1 << 22;

fn ranges(e: &Extents) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    e.for_each(|a, s| v.push((a, s)));
    v
}

#[test]
fn neighbours_merge_and_the_total_follows() {
    let mut e = Extents::new();
    for i in [0usize, 2, 4] {
        assert!(e.insert(10 * C + i * C, C, &mut Spare::take()));
    }
    assert_eq!(ranges(&e), vec![(10 * C, C), (12 * C, C), (14 * C, C)]);
    assert!(e.insert(11 * C, C, &mut Spare::none()), "joining two ranges needs no node");
    assert_eq!(ranges(&e), vec![(10 * C, 3 * C), (14 * C, C)]);
    assert!(e.insert(13 * C, C, &mut Spare::none()));
    assert_eq!(ranges(&e), vec![(10 * C, 5 * C)]);
    assert_eq!(e.total(), 5 * C);
    assert!(!e.insert(20 * C, C, &mut Spare::none()), "a lone range needs a node");
    assert_eq!(e.total(), 5 * C);
}

#[test]
fn take_is_lowest_first_and_splits() {
    let mut e = Extents::new();
    assert!(e.insert(8 * C, 2 * C, &mut Spare::take()));
    assert!(e.insert(16 * C, 8 * C, &mut Spare::take()));
    assert_eq!(e.take(3 * C, C, &mut Spare::none()), Some(16 * C), "the first range is too small");
    assert_eq!(e.take(C, C, &mut Spare::none()), Some(8 * C));
    assert_eq!(ranges(&e), vec![(9 * C, C), (19 * C, 5 * C)]);
    // Aligned to 4 chunks inside [19, 24): 20..22 leaves a lead and a trail.
    assert_eq!(e.take(2 * C, 4 * C, &mut Spare::none()), None, "a three-way split needs a node");
    assert_eq!(e.take(2 * C, 4 * C, &mut Spare::take()), Some(20 * C));
    assert_eq!(ranges(&e), vec![(9 * C, C), (19 * C, C), (22 * C, 2 * C)]);
    assert_eq!(e.total(), 4 * C);
    assert_eq!(e.take(64 * C, C, &mut Spare::none()), None);
}

#[test]
fn the_top_range_pops_only_at_the_end() {
    let mut e = Extents::new();
    assert_eq!(e.pop_ending_at(4 * C), None);
    assert!(e.insert(C, C, &mut Spare::take()));
    assert!(e.insert(4 * C, 2 * C, &mut Spare::take()));
    assert_eq!(e.pop_ending_at(7 * C), None);
    assert_eq!(e.pop_ending_at(6 * C), Some(4 * C));
    assert_eq!(ranges(&e), vec![(C, C)]);
    assert_eq!(e.pop_ending_at(2 * C), Some(C));
    assert_eq!(e.total(), 0);
}

#[test]
fn peek_sees_only_a_top_range_ending_there() {
    let mut e = Extents::new();
    assert_eq!(e.peek_ending_at(C), None);
    assert!(e.insert(2 * C, C, &mut Spare::take()));
    assert_eq!(e.peek_ending_at(3 * C), Some(2 * C));
    assert_eq!(e.peek_ending_at(4 * C), None);
    assert_eq!(e.total(), C, "peeking removes nothing");
}

#[test]
fn take_at_takes_only_from_a_range_that_starts_there() {
    let mut e = Extents::new();
    assert!(e.insert(4 * C, 3 * C, &mut Spare::take()));
    assert!(!e.take_at(5 * C, C), "inside a range, not at its start");
    assert!(!e.take_at(4 * C, 4 * C), "more than the range holds");
    assert!(!e.take_at(8 * C, C));
    assert!(e.take_at(4 * C, C));
    assert_eq!(ranges(&e), vec![(5 * C, 2 * C)]);
    assert!(e.take_at(5 * C, 2 * C));
    assert_eq!(ranges(&e), vec![]);
    assert_eq!(e.total(), 0);
}
