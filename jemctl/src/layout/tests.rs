use super::*;

fn table() -> Table {
    let mut t = Table::new(vec![
        Column::new("name", "name", Align::Left).group(),
        Column::new("speed", "speed", Align::Right),
        Column::new("extra", "extra column", Align::Right).yields(1),
        Column::new("hidden", "hidden", Align::Left).optional(),
    ]);
    t.row(vec!["alpha".into(), "1.00 M".into(), "12 MiB".into(), "h".into()]);
    t.row(vec!["alpha".into(), "22.00 M".into(), "3 MiB".into(), "h".into()]);
    t.group_break();
    t.row(vec!["beta".into(), "3.00 M".into(), "4 MiB".into(), "h".into()]);
    t
}

#[test]
fn default_columns_fit_and_groups_print_once() {
    let r = table().render(&Choice::Default, 80);
    assert!(r.left_out.is_empty());
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines[0], "name     speed  extra column");
    assert_eq!(lines[2], "alpha   1.00 M        12 MiB");
    assert_eq!(lines[3], "       22.00 M         3 MiB", "the group's name prints once");
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("beta"));
    assert!(!r.text.contains("hidden"));
}

#[test]
fn a_short_width_drops_yielding_columns_whole() {
    let r = table().render(&Choice::Default, 20);
    assert_eq!(r.left_out, vec!["extra column"]);
    assert!(r.text.lines().all(|l| text_width(l) <= 20), "{}", r.text);
    assert!(!r.text.contains("MiB"));
}

#[test]
fn wide_and_named_choices() {
    let t = table();
    assert!(t.render(&Choice::Wide, 20).text.contains("hidden"));
    let named = Choice::from_args(&["speed,name".into()], false);
    let text = t.render(&named, 20).text;
    assert!(text.starts_with("  speed  name"), "{text}");
    assert!(t.check(&Choice::Named(vec!["nope".into()])).unwrap_err().contains("name, speed, extra, hidden"));
}

#[test]
fn wrapping_breaks_notes_at_spaces_and_lists_after_commas() {
    let lines = wrap("one two three four-five-six seven", 10, "  ");
    assert_eq!(lines, vec!["one two", "  three", "  four-five-six", "  seven"]);
    let mut t = Table::new(vec![Column::new("k", "k", Align::Left), Column::new("list", "list", Align::Left).wrap()]);
    t.row(vec!["a".into(), "[4 KiB, 8 KiB, 12 KiB, ..., 4072 KiB]".into()]);
    let text = t.render(&Choice::Default, 20).text;
    assert!(text.lines().all(|l| text_width(l) <= 20), "{text}");
    let lines: Vec<&str> = text.lines().skip(2).map(str::trim).collect();
    assert_eq!(lines, vec!["a  [4 KiB, 8 KiB,", "12 KiB, ...,", "4072 KiB]"]);
}

#[test]
fn best_marks_keep_alignment() {
    let (mut a, mut b, mut c) = ("1.0".to_string(), "2.0".to_string(), "-".to_string());
    mark_best(&mut [&mut a, &mut b, &mut c], &[Some(1.0), Some(2.0), None], true);
    assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("1.0 ", "2.0*", "- "));
    let mut d = "5".to_string();
    mark_best(&mut [&mut d], &[Some(5.0)], false);
    assert_eq!(d, "5", "a single value is not marked");
}
