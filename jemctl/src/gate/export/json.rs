//! The comparison as JSON: `{"candidate", "baseline", "machine", "rows": [...], "notes", "passed"}`.

use super::GateReport;
use anyhow::{Context, Result};
use std::path::Path;

pub fn write(report: &GateReport, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
