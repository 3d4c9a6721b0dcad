//! Allocator specs: what `--allocator` names, parsed by one function ([`AllocatorSpec::parse`])
//! and loaded into a table of C function pointers ([`AllocatorSpec::load`]).
//!
//! `jemalloc-rs` is this project's engine linked into jemctl; `jemalloc-rs-so` is its shared
//! library (`libjemalloc_rs.so`, found through `JEMCTL_SO` or next to the jemctl executable);
//! `system` is the C library's malloc; `jemalloc`, `mimalloc` and `tcmalloc` are Debian's
//! packaged libraries; anything else is the path of a shared library exporting malloc and
//! free, optionally `PATH:PREFIX` for prefixed symbols (`je_malloc`). Libraries are loaded with
//! `dlopen` and never unloaded.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use workloads::table::{CallocFn, FreeFn, MallocFn, PosixMemalignFn, ReallocFn, UsableSizeFn};
use workloads::AllocTable;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocatorSpec {
    /// The engine linked into this process.
    InProcess,
    System,
    /// A shared library; `label` is what tables call it.
    Library { label: String, path: PathBuf, prefix: String },
}

/// Debian's packaged peers: (name, file, package).
pub const PEERS: [(&str, &str, &str); 3] = [
    ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
    ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
    ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
];

pub const OWN_SO: &str = "libjemalloc_rs.so";

/// Parses the `--allocator` values of one command. Two libraries whose file names agree (two
/// builds of `libjemalloc_rs.so`, say) are told apart by their paths as given; the same
/// allocator named twice is an error.
pub fn parse_all(specs: &[String]) -> Result<Vec<AllocatorSpec>> {
    let mut parsed = specs.iter().map(|s| AllocatorSpec::parse(s)).collect::<Result<Vec<_>>>()?;
    let labels: Vec<String> = parsed.iter().map(|p| p.label().to_string()).collect();
    for (spec, given) in parsed.iter_mut().zip(specs) {
        if let AllocatorSpec::Library { label, .. } = spec {
            if labels.iter().filter(|l| *l == label).count() > 1 {
                *label = given.clone();
            }
        }
    }
    for (i, p) in parsed.iter().enumerate() {
        if parsed[..i].iter().any(|q| q.label() == p.label()) {
            bail!("allocator '{}' is named twice", specs[i]);
        }
    }
    Ok(parsed)
}

impl AllocatorSpec {
    /// Parses a `--allocator` value. Named libraries and paths must exist.
    pub fn parse(spec: &str) -> Result<Self> {
        match spec {
            "jemalloc-rs" => return Ok(AllocatorSpec::InProcess),
            "system" => return Ok(AllocatorSpec::System),
            "jemalloc-rs-so" => {
                let path = own_so()?;
                return Ok(AllocatorSpec::Library { label: spec.to_string(), path, prefix: String::new() });
            }
            _ => {}
        }
        if let Some(&(name, file, package)) = PEERS.iter().find(|p| p.0 == spec) {
            let path = find_peer(file).ok_or_else(|| {
                anyhow!("{name}: {file} is not installed in {}; install it with `apt-get install {package}`", lib_dirs().join(", "))
            })?;
            return Ok(AllocatorSpec::Library { label: name.to_string(), path, prefix: String::new() });
        }
        let (path, prefix) = match spec.rsplit_once(':') {
            Some((path, prefix)) if !Path::new(spec).exists() && is_identifier(prefix) => (path, prefix),
            _ => (spec, ""),
        };
        let path = PathBuf::from(path);
        if !path.is_file() {
            let names: Vec<&str> = ["jemalloc-rs", "jemalloc-rs-so", "system"].into_iter().chain(PEERS.iter().map(|p| p.0)).collect();
            bail!(
                "allocator '{spec}': no such file {}; give the path of a shared library exporting malloc and free, or one of: {}",
                path.display(),
                names.join(", ")
            );
        }
        let label = path.file_name().map_or_else(|| spec.to_string(), |f| f.to_string_lossy().into_owned());
        let label = if prefix.is_empty() { label } else { format!("{label}:{prefix}") };
        Ok(AllocatorSpec::Library { label, path, prefix: prefix.to_string() })
    }

    pub fn label(&self) -> &str {
        match self {
            AllocatorSpec::InProcess => "jemalloc-rs",
            AllocatorSpec::System => "system",
            AllocatorSpec::Library { label, .. } => label,
        }
    }

    /// The spec as an argument that [`AllocatorSpec::parse`] turns back into the same library.
    pub fn arg(&self) -> String {
        match self {
            AllocatorSpec::InProcess => "jemalloc-rs".into(),
            AllocatorSpec::System => "system".into(),
            AllocatorSpec::Library { path, prefix, .. } if prefix.is_empty() => path.display().to_string(),
            AllocatorSpec::Library { path, prefix, .. } => format!("{}:{prefix}", path.display()),
        }
    }

    pub fn library_path(&self) -> Option<&Path> {
        match self {
            AllocatorSpec::Library { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The allocator's C functions. A library stays loaded for the life of the process.
    pub fn load(&self) -> Result<AllocTable> {
        match self {
            AllocatorSpec::InProcess => Ok(AllocTable::jemalloc_rs()),
            AllocatorSpec::System => Ok(AllocTable::system()),
            AllocatorSpec::Library { path, prefix, .. } => load_library(path, prefix),
        }
    }
}

/// The default set: jemalloc-rs, jemalloc-rs-so and system, then each Debian peer that is
/// installed. Also returns a note for each that was not found.
pub fn defaults() -> (Vec<AllocatorSpec>, Vec<String>) {
    let mut specs = vec![AllocatorSpec::InProcess];
    let mut notes = Vec::new();
    match AllocatorSpec::parse("jemalloc-rs-so") {
        Ok(s) => specs.push(s),
        Err(e) => notes.push(format!("skipped jemalloc-rs-so: {e:#}")),
    }
    specs.push(AllocatorSpec::System);
    for (name, _, _) in PEERS {
        match AllocatorSpec::parse(name) {
            Ok(s) => specs.push(s),
            Err(e) => notes.push(format!("not found: {e:#}")),
        }
    }
    (specs, notes)
}


fn load_library(path: &Path, prefix: &str) -> Result<AllocTable> {
    // SAFETY: loading runs the library's initialisers; an allocator library's are expected to
    // be safe to run in any process.
    let lib = unsafe { libloading::Library::new(path) }.with_context(|| format!("cannot load {}", path.display()))?;
    let get = |name: &str| -> Result<*mut std::ffi::c_void> {
        let symbol = format!("{prefix}{name}");
        // SAFETY: the symbol is only read as an address here.
        let s = unsafe { lib.get::<*mut std::ffi::c_void>(symbol.as_bytes()) }
            .map_err(|_| anyhow!("{} does not export {symbol}: is it an allocator (malloc, free, ...)?", path.display()))?;
        // dlsym also searches the library's dependencies: a library that merely links the C
        // library would otherwise lend us the C library's malloc.
        match defining_object(*s) {
            Some(owner) if same_file(&owner, path) => Ok(*s),
            owner => Err(anyhow!(
                "{} does not export {symbol} itself (the {symbol} found is {}'s): is it an allocator?",
                path.display(),
                owner.map_or_else(|| "another library".into(), |o| o.display().to_string())
            )),
        }
    };
    let (malloc, free, realloc, calloc, memalign) =
        (get("malloc")?, get("free")?, get("realloc")?, get("calloc")?, get("posix_memalign")?);
    let usable = get("malloc_usable_size").ok();
    // SAFETY: each address is the library's C function of that name, whose signature is the
    // C standard's (or POSIX's); the library is leaked below, so the addresses stay valid.
    let table = unsafe {
        AllocTable {
            malloc: std::mem::transmute::<*mut std::ffi::c_void, MallocFn>(malloc),
            free: std::mem::transmute::<*mut std::ffi::c_void, FreeFn>(free),
            realloc: std::mem::transmute::<*mut std::ffi::c_void, ReallocFn>(realloc),
            calloc: std::mem::transmute::<*mut std::ffi::c_void, CallocFn>(calloc),
            posix_memalign: std::mem::transmute::<*mut std::ffi::c_void, PosixMemalignFn>(memalign),
            malloc_usable_size: usable.map(|u| std::mem::transmute::<*mut std::ffi::c_void, UsableSizeFn>(u)),
        }
    };
    std::mem::forget(lib);
    Ok(table)
}

/// The file of the loaded object that holds `addr`.
fn defining_object(addr: *mut std::ffi::c_void) -> Option<PathBuf> {
    // SAFETY: an all-zero Dl_info is a valid value for dladdr to overwrite.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: info is writable; dladdr only looks the address up.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr set dli_fname to a NUL-terminated string owned by the loader.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn lib_dirs() -> Vec<String> {
    let triple = format!("{}-linux-gnu", std::env::consts::ARCH);
    vec![
        format!("/usr/lib/{triple}"),
        format!("/lib/{triple}"),
        "/usr/lib64".into(),
        "/usr/lib".into(),
        "/usr/local/lib".into(),
    ]
}

pub fn find_peer(file: &str) -> Option<PathBuf> {
    lib_dirs().into_iter().map(|d| Path::new(&d).join(file)).find(|p| p.is_file())
}

/// `$JEMCTL_SO`, else `libjemalloc_rs.so` beside this executable or in the release directory
/// of the same target directory.
pub fn own_so() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("JEMCTL_SO") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("JEMCTL_SO={} is not a file", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot find the jemctl executable")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    build_own_so_under_cargo(dir);
    let candidates = [dir.join(OWN_SO), dir.join("..").join(OWN_SO), dir.join("../../release").join(OWN_SO)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        anyhow!(
            "{OWN_SO} not found next to {}; build it with `cargo build --release -p jemalloc_rs_cdylib` (same target directory) or set JEMCTL_SO to its path",
            exe.display()
        )
    })
}

/// Under `cargo run` (which sets `CARGO`), brings `libjemalloc_rs.so` up to date in the same
/// target directory first, so that `cargo run --release -p jemctl -- bench` measures the library
/// built from the same sources as jemctl, not a missing or stale one. Once per process; a
/// release jemctl builds the release library, a debug one the debug library.
fn build_own_so_under_cargo(exe_dir: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(cargo) = std::env::var_os("CARGO") else { return };
        let release = exe_dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", "jemalloc_rs_cdylib"]);
        if release {
            cmd.arg("--release");
        }
        eprintln!("jemctl: bringing {OWN_SO} up to date (cargo build{} -p jemalloc_rs_cdylib)", if release { " --release" } else { "" });
        match cmd.status() {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("jemctl: building {OWN_SO} failed ({status}); using what is there"),
            Err(e) => eprintln!("jemctl: could not run cargo to build {OWN_SO}: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{parse_all, AllocatorSpec};

    #[test]
    fn names_parse_and_round_trip() {
        assert_eq!(AllocatorSpec::parse("system").unwrap(), AllocatorSpec::System);
        assert_eq!(AllocatorSpec::parse("jemalloc-rs").unwrap().arg(), "jemalloc-rs");
        let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        if let Some(libc) = libc {
            let spec = AllocatorSpec::parse(&format!("{libc}:__libc_")).unwrap();
            assert_eq!(AllocatorSpec::parse(&spec.arg()).unwrap(), spec);
            assert_eq!(spec.label(), "libc.so.6:__libc_");
            let plain = AllocatorSpec::parse(libc).unwrap();
            assert!(plain.load().is_ok());
        }
    }

    #[test]
    fn libraries_of_one_file_name_are_told_apart_by_path_and_repeats_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("libx.so"), b"").unwrap();
        }
        let (pa, pb) = (a.join("libx.so").display().to_string(), b.join("libx.so").display().to_string());
        let specs = parse_all(&[pa.clone(), "system".into(), pb.clone()]).unwrap();
        let labels: Vec<&str> = specs.iter().map(|s| s.label()).collect();
        assert_eq!(labels, [pa.as_str(), "system", pb.as_str()]);
        let one = parse_all(std::slice::from_ref(&pa)).unwrap();
        assert_eq!(one[0].label(), "libx.so");
        let e = parse_all(&[pa.clone(), pa.clone()]).unwrap_err().to_string();
        assert!(e.contains("named twice"), "{e}");
        assert!(parse_all(&["system".into(), "system".into()]).is_err());
    }

    #[test]
    fn a_missing_path_is_an_error_that_says_what_to_do() {
        let e = AllocatorSpec::parse("/no/such/lib.so").unwrap_err().to_string();
        assert!(e.contains("no such file") && e.contains("jemalloc-rs-so"), "{e}");
    }
}
