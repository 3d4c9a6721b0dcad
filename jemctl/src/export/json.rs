//! The JSON file: `{"machine", "settings", "notes", "runs": [RunResult, ...]}`.

use crate::bench::BenchReport;
use anyhow::{Context, Result};
use std::path::Path;

pub fn write(report: &BenchReport, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

pub fn read(path: &Path) -> Result<BenchReport> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a jemctl bench result", path.display()))
}
