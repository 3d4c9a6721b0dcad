//! Flame graphs (SVG, drawn by `inferno`) of a profile's bytes by call stack.

use anyhow::{Context as _, Result};
use std::path::Path;

/// Writes a flame graph of `stacks` (frame names root first, and a byte count) to `path`.
/// Returns false, writing nothing, when no stack has a byte to show.
pub fn write(stacks: &[(Vec<String>, u64)], title: &str, path: &Path) -> Result<bool> {
    let lines: Vec<String> = stacks
        .iter()
        .filter(|(frames, bytes)| *bytes > 0 && !frames.is_empty())
        .map(|(frames, bytes)| {
            // ';' separates frames and a space the count: neither may appear in a name.
            let names: Vec<String> = frames.iter().map(|f| f.replace(';', ":").replace(char::is_whitespace, "\u{a0}")).collect();
            format!("{} {bytes}", names.join(";"))
        })
        .collect();
    if lines.is_empty() {
        return Ok(false);
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "bytes".to_string();
    options.name_type = "Function:".to_string();
    options.deterministic = true;
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
        .with_context(|| format!("cannot write the flame graph {}", path.display()))?;
    std::io::Write::flush(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_each_frame_and_skips_empty_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.svg");
        let stacks = vec![
            (vec!["main".to_string(), "grow_table".to_string()], 3 << 20),
            (vec!["main".to_string(), "operator new(unsigned long)".to_string()], 1 << 20),
            (vec!["main".to_string(), "freed".to_string()], 0),
        ];
        assert!(super::write(&stacks, "In use", &path).unwrap());
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("grow_table") && svg.contains("In use"), "{svg}");
        assert!(svg.contains("operator") && !svg.contains("freed"));
        assert!(!super::write(&stacks[2..], "In use", &dir.path().join("g.svg")).unwrap());
        assert!(!dir.path().join("g.svg").exists());
    }
}
