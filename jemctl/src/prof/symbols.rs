//! Addresses of a dump to functions and source lines, in this process: the dump's
//! `MAPPED_LIBRARIES` section says which file each address lies in and at which file offset;
//! the file's ELF program headers turn the offset into the address the file was linked at
//! (so position-independent executables and shared libraries resolve wherever they were
//! loaded); `addr2line` reads the DWARF line tables and inlining there, and the symbol table
//! where a file has no debug information.
//!
//! Entry point: [`Symbolizer::frames`]. Each file is opened once, and each address resolved
//! once.

use super::dump::{Mapping, Profile};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// One function frame at an address; an address inside inlined code gives several, the
/// innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name, when the file has debug information or a symbol for it.
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The file the address lies in, when the dump maps it.
    pub object: Option<PathBuf>,
    pub address: u64,
}

impl Frame {
    /// The function's name, or `library@0xaddress` when the file has no symbol for it, or the
    /// bare address.
    pub fn name(&self) -> String {
        match (&self.function, &self.object) {
            (Some(f), _) => f.clone(),
            (None, Some(o)) => format!("{}@{:#x}", file_name(o), self.address),
            (None, None) => format!("{:#x}", self.address),
        }
    }

    /// `file:line` where the debug information has them.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match self.line {
            Some(line) => format!("{}:{line}", display_path(file)),
            None => display_path(file),
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Source paths under the current directory are shown relative to it.
fn display_path(file: &str) -> String {
    match std::env::current_dir() {
        Ok(cwd) => Path::new(file).strip_prefix(&cwd).map_or_else(|_| file.to_string(), |p| p.display().to_string()),
        Err(_) => file.to_string(),
    }
}

/// An opened file: its debug information and where its loadable segments lie.
struct Object {
    loader: addr2line::Loader,
    /// (file offset, file size, linked address) of each PT_LOAD segment.
    segments: Vec<(u64, u64, u64)>,
}

impl Object {
    fn open(path: &Path) -> Result<Object, String> {
        use object::{Object as _, ObjectSegment as _};
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let file = object::File::parse(&*data).map_err(|e| format!("not an object file ({e})"))?;
        let segments = file
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (offset, size, s.address())
            })
            .collect();
        let loader = addr2line::Loader::new(path).map_err(|e| e.to_string())?;
        Ok(Object { loader, segments })
    }

    /// The address the file was linked at for a byte `offset` into it.
    fn linked_address(&self, offset: u64) -> Option<u64> {
        self.segments.iter().find(|(o, size, _)| *o <= offset && offset < o + size).map(|(o, _, addr)| offset - o + addr)
    }

    fn frames(&self, probe: u64, object: &Path, address: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Ok(mut frames) = self.loader.find_frames(probe) {
            while let Ok(Some(f)) = frames.next() {
                let function = f.function.as_ref().and_then(|n| n.demangle().ok()).map(Cow::into_owned);
                let (file, line) = f.location.map_or((None, None), |l| (l.file.map(str::to_string), l.line));
                out.push(Frame { function, file, line, object: Some(object.to_path_buf()), address });
            }
        }
        if out.iter().all(|f| f.function.is_none()) {
            let symbol = self.loader.find_symbol(probe).map(|s| addr2line::demangle_auto(Cow::Borrowed(s), None).into_owned());
            match out.first_mut() {
                Some(f) => f.function = symbol,
                None => out.push(Frame { function: symbol, file: None, line: None, object: Some(object.to_path_buf()), address }),
            }
        }
        out
    }
}

pub struct Symbolizer<'p> {
    profile: &'p Profile,
    /// `--binary`: read in place of the file the dump names for the program.
    binary: Option<(PathBuf, PathBuf)>,
    objects: HashMap<PathBuf, Option<Object>>,
    resolved: HashMap<u64, Rc<[Frame]>>,
    /// Files that could not be read, each with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl<'p> Symbolizer<'p> {
    /// `binary` replaces the program's file: the mapped file of that name, or else the first
    /// file mapped (the executable, in `/proc/<pid>/maps`). Without a maps section, the
    /// addresses are taken as the binary's own (a program not built position-independent).
    pub fn new(profile: &'p Profile, binary: Option<&Path>) -> Symbolizer<'p> {
        let binary = binary.map(|b| {
            let named = profile.maps.iter().filter_map(|m| m.path.as_deref()).find(|p| p.file_name() == b.file_name());
            let first = profile.maps.iter().find_map(|m| m.path.as_deref());
            (named.or(first).map_or_else(PathBuf::new, Path::to_path_buf), b.to_path_buf())
        });
        Symbolizer { profile, binary, objects: HashMap::new(), resolved: HashMap::new(), unreadable: Vec::new() }
    }

    /// The frames at a return address, innermost first; never empty.
    pub fn frames(&mut self, address: u64) -> Rc<[Frame]> {
        if let Some(f) = self.resolved.get(&address) {
            return f.clone();
        }
        let frames: Rc<[Frame]> = self.resolve(address).into();
        self.resolved.insert(address, frames.clone());
        frames
    }

    fn resolve(&mut self, address: u64) -> Vec<Frame> {
        let bare = || vec![Frame { function: None, file: None, line: None, object: None, address }];
        // A return address points after the call; the call itself is one byte before.
        let call = address.saturating_sub(1);
        let (path, probe) = match self.profile.mapping_of(address) {
            Some(Mapping { path: Some(path), start, offset, .. }) => (path.clone(), Err(call - start + offset)),
            Some(_) => return bare(),
            None => match &self.binary {
                Some((_, binary)) if self.profile.maps.is_empty() => (binary.clone(), Ok(call)),
                _ => return bare(),
            },
        };
        let read_from = match &self.binary {
            Some((named, binary)) if *named == path => binary.clone(),
            _ => path.clone(),
        };
        let object = self.objects.entry(read_from.clone()).or_insert_with(|| match Object::open(&read_from) {
            Ok(o) => Some(o),
            Err(e) => {
                self.unreadable.push((read_from.clone(), e));
                None
            }
        });
        let Some(object) = object else {
            return vec![Frame { function: None, file: None, line: None, object: Some(path), address }];
        };
        let probe = match probe {
            Ok(linked) => Some(linked),
            Err(file_offset) => object.linked_address(file_offset),
        };
        match probe {
            Some(p) => object.frames(p, &path, address),
            None => vec![Frame { function: None, file: None, line: None, object: Some(path), address }],
        }
    }
}
