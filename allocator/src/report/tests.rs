use super::*;

fn conf(pairs: &[(&str, &str)]) -> (Conf, Vec<bool>) {
    let mut c = Conf::DEFAULT;
    let oks = pairs.iter().map(|(k, v)| c.apply(k, v.as_bytes()).expect("a report key")).collect();
    (c, oks)
}

#[test]
fn options_parse_and_refuse_bad_values() {
    let (c, oks) = conf(&[
        ("report_fd", "7"),
        ("report_names", "stats.allocated;version;;arenas.narenas"),
        ("report_stats", "true"),
        ("report_stats_opts", "ab"),
        ("report_interval_ms", "250"),
    ]);
    assert!(oks.iter().all(|&ok| ok));
    assert_eq!(c.fd, 7);
    assert_eq!(c.names().collect::<Vec<_>>(), [&b"stats.allocated"[..], b"version", b"arenas.narenas"]);
    assert!(c.stats && c.stats_opts() == b"ab" && c.interval_ms == 250);
    assert!(c.wanted());
    let (c, oks) = conf(&[
        ("report_fd", "-1"),
        ("report_names", "a b"),
        ("report_stats", "yes"),
        ("report_stats_opts", "z"),
        ("report_interval_ms", "-5"),
    ]);
    assert!(oks.iter().all(|&ok| !ok));
    assert_eq!(c, Conf::DEFAULT);
    assert!(!Conf::DEFAULT.wanted());
    assert_eq!(Conf::default().apply("narenas", b"4"), None);
}

/// What `f` writes through a `Lines` on a pipe.
fn through_pipe(f: impl FnOnce(&mut Lines)) -> String {
    let mut fds = [0i32; 2];
    // SAFETY: pipe fills two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let mut out = Lines { fd: fds[1], pid: 42, line: MessageBuf::new() };
    f(&mut out);
    out.finish_line();
    let mut buf = [0u8; 65536];
    // SAFETY: the descriptors are ours; the write end is closed before reading everything.
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
        libc::close(fds[0]);
        n
    };
    String::from_utf8(buf[..n.max(0) as usize].to_vec()).unwrap()
}

#[test]
fn names_are_written_as_lines_with_values_or_the_manuals_errors() {
    let text = through_pipe(|out| {
        write_name(out, b"version");
        write_name(out, b"arenas.narenas");
        write_name(out, b"stats.arenas.1000.pactive");
        write_name(out, b"arenas.purge");
        write_name(out, b"arenas.initialized");
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "42 | version: 2.2.1-0-jemalloc-rs");
    assert!(lines[1].starts_with("42 | arenas.narenas: ") && lines[1]["42 | arenas.narenas: ".len()..].parse::<u32>().is_ok(), "{text}");
    assert_eq!(lines[2], "42 | stats.arenas.1000.pactive: error ENOENT: name or mib specifies an unknown/invalid value");
    assert!(lines[3].starts_with("42 | arenas.purge: error EPERM"), "{text}");
    assert!(lines[4].starts_with("42 | arenas.initialized: [true"), "{text}");
}

#[test]
fn text_is_split_into_prefixed_lines() {
    let text = through_pipe(|out| {
        let _ = out.write_str("one\ntw");
        let _ = out.write_str("o\n\nthree");
        out.control(format_args!("end 3"));
    });
    // Blank lines stay (the statistics report has them); a pending line waits for its end.
    assert_eq!(text, "42 | one\n42 | two\n42 | \n42 end 3\n42 | three\n");
}
