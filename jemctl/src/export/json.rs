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
