//! `jemctl report --html`: one self-contained page, rendered in headless Chromium, whose
//! screenshot shows the charts and the tables. Skips with a message where Chromium is absent.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bench-five-workloads.json");

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
}

fn html_of(json: &Path, dir: &Path) -> PathBuf {
    Command::cargo_bin("jemctl")
        .unwrap()
        .args(["report", "--html", "--out-dir"])
        .arg(dir)
        .arg(json)
        .assert()
        .success();
    dir.join(format!("{}.html", json.file_stem().unwrap().to_string_lossy()))
}

fn headless(browser: &str, dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(browser);
    c.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()));
    c
}

/// Pixels of the screenshot as RGB rows.
fn screenshot(browser: &str, html: &Path, dir: &Path, height: u32) -> (u32, u32, Vec<u8>) {
    let png = dir.join("shot.png");
    let out = headless(browser, dir)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size=1200,{height}"))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb: Vec<u8> = buf[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, rgb)
}

fn dom(browser: &str, html: &Path, dir: &Path) -> String {
    let out = headless(browser, dir).arg("--dump-dom").arg(format!("file://{}", html.display())).output().expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_bench_page_is_self_contained_and_renders_charts_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let html = html_of(Path::new(FIXTURE), dir.path());
    let text = std::fs::read_to_string(&html).unwrap();
    for external in ["http://", "https://", "<script", "<link", "src="] {
        let hits: Vec<&str> = text.matches(external).collect();
        // The SVG namespace is the one URL allowed: it names, it is never fetched.
        let allowed = if external == "http://" { text.matches("xmlns=\"http://www.w3.org/2000/svg\"").count() } else { 0 };
        assert_eq!(hits.len(), allowed, "the page must not fetch anything ({external})");
    }
    assert!(text.contains("<pre id=\"command\">jemctl bench --quick --repeat 3 --save</pre>"));
    assert_eq!(text.matches("<svg").count(), 2, "the two charts are inline");

    let Some(browser) = chromium() else {
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let dom = dom(browser, &html, dir.path());
    for id in ["machine", "command", "winners", "overview", "latency", "results"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "the rendered page lacks #{id}");
    }
    assert!(dom.contains("AMD EPYC") && dom.contains("larson") && dom.contains("tcmalloc"));
    assert_eq!(dom.matches("<tr").count(), 1 + 30, "a header and one row per run");

    let (w, h, rgb) = screenshot(browser, &html, dir.path(), 1400);
    assert_eq!((w, h), (1200, 1400));
    let px = |x: u32, y: u32| {
        let i = 3 * (y * w + x) as usize;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    // Rows of the screenshot that hold anything but white.
    let inked: Vec<bool> = (0..h).map(|y| (0..w).any(|x| px(x, y) != (255, 255, 255))).collect();
    assert!(inked.iter().filter(|&&i| i).count() > (h / 3) as usize, "the page is mostly blank");
    // The first chart's bars: the first allocator's colour (#0072B2) appears in many rows.
    let blue_rows = (0..h).filter(|&y| (0..w).any(|x| px(x, y) == (0x00, 0x72, 0xB2))).count();
    assert!(blue_rows > 40, "no bars of the first allocator's colour in the first screen ({blue_rows} rows)");
    // Something other than the charts: the orange of the second allocator is there too.
    let orange_rows = (0..h).filter(|&y| (0..w).any(|x| px(x, y) == (0xE6, 0x9F, 0x00))).count();
    assert!(orange_rows > 20, "{orange_rows}");
}

#[test]
fn a_gate_comparison_renders_as_a_page_of_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gate.json");
    let gate = serde_json::json!({
        "command": "jemctl gate --candidate libslow_malloc.so --json gate.json",
        "candidate": "libslow_malloc.so",
        "baseline": "results/baseline.json",
        "machine": { "name": "m", "cpu": "Test CPU", "logical_cpus": 2, "arch": "x86_64", "kernel": "6", "libc": "glibc 2.36",
                     "date": "2026-11-29T12:00:00Z", "load_average": [1.0, 1.0, 1.0] },
        "rows": [
            { "workload": "small-loop", "threads": 1, "metric": "speed-vs-system", "baseline": 1.31, "now": 0.32,
              "change_pct": -75.6, "range": [0.3, 0.35], "tolerance": { "pct": 15.0, "slack": 0.0 }, "verdict": "regressed" },
            { "workload": "small-loop", "threads": 1, "metric": "peak-rss", "baseline": 1.0e6, "now": 1.0e6,
              "change_pct": 0.0, "range": null, "tolerance": { "pct": 10.0, "slack": 524288.0 }, "verdict": "ok" }
        ],
        "notes": [], "passed": false, "recorded": false
    });
    std::fs::write(&json, serde_json::to_string(&gate).unwrap()).unwrap();
    let html = html_of(&json, dir.path());
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("FAILED: 1 of 2 figures regressed"), "{text}");
    assert!(text.contains("<td class=\"verdict-regressed\">REGRESSED</td>"));
    assert!(text.contains("jemctl gate --candidate libslow_malloc.so"));
    let Some(browser) = chromium() else {
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let dom = dom(browser, &html, dir.path());
    assert!(dom.contains("id=\"verdicts\"") && dom.contains("REGRESSED"));
    let (w, h, rgb) = screenshot(browser, &html, dir.path(), 600);
    // The outcome's red (#b00020) is on the first screen.
    let red = rgb.chunks(3).filter(|p| p == &[0xb0, 0x00, 0x20]).count();
    assert!(red > 50, "the failed outcome is not shown in red ({red} pixels of {}x{h})", w);
}
