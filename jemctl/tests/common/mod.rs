//! Helpers shared by jemctl's integration tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `libjemalloc_rs.so` of this tree, built once per test binary by a nested cargo into a
/// target directory of its own (the outer `cargo test` holds the main one's lock).
pub fn own_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("preload-so");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let out = std::process::Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args(["build", "--release", "-p", "jemalloc_rs_cdylib", "--target-dir"])
            .arg(&target)
            .output()
            .expect("cannot run cargo");
        assert!(out.status.success(), "building libjemalloc_rs.so failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("release").join("libjemalloc_rs.so")
    })
}
