//! `mallctl*()`: the manual's MALLCTL NAMESPACE, read and written by name or by MIB.
//!
//! Mirrors jemalloc 2.2.1 `ctl.c`, split by concept: [`tree`] is the static name tree (const
//! arrays of nodes: named children, or one indexed child whose bound is a function), [`leaves`]
//! holds the handlers with side effects (`epoch`, `thread.arena`, `arenas.purge`, ...),
//! [`snapshot`] the statistics copy that `epoch` refreshes, and [`typed`] a Rust API over all of
//! it in the manner of tikv-jemalloc-ctl.
//!
//! Entry points: [`mallctl`], [`nametomib`] and [`bymib`] have the C signatures that
//! `libjemalloc_rs.so` exports; [`by_name`] and [`by_mib`] take Rust slices; [`describe`] and
//! [`walk`] tell a name's C type and access without touching its value.
//!
//! Lookup walks the tree comparing bytes of the name in place: no allocation, no string building.
//! A MIB is a path of child positions and indices, valid in every thread for the life of the
//! process. The statistics snapshot is guarded by the ctl lock ([`lock`]); it is taken before any
//! bin or arena lock and never held while calling out of the allocator.

pub mod leaves;
pub mod snapshot;
pub mod tree;
pub mod typed;

#[cfg(test)]
mod tests;

use core::ffi::{c_char, c_int, c_void};
use tree::{Access, CType, Handler, Kind, Leaf, Node, Value, ROOT};

/// Most components a name has (`stats.arenas.<i>.bins.<j>.nmalloc`).
pub const MAX_DEPTH: usize = 6;

/// The errors the manual lists for `mallctl*()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Error {
    /// A wrong `newlen` or `*oldlenp` (when reading, as much as fits was copied).
    Inval = libc::EINVAL,
    /// An unknown name, an index out of range, or a partial path.
    NoEnt = libc::ENOENT,
    /// Writing a read-only name or reading a write-only one.
    Perm = libc::EPERM,
    /// A memory allocation failure.
    Again = libc::EAGAIN,
    /// An interface with side effects failed.
    Fault = libc::EFAULT,
}

impl Error {
    /// The errno value.
    pub fn code(self) -> c_int {
        self as c_int
    }

    /// The error of an errno value `mallctl*()` returned.
    pub fn from_code(code: c_int) -> Option<Error> {
        [Error::Inval, Error::NoEnt, Error::Perm, Error::Again, Error::Fault].into_iter().find(|e| e.code() == code)
    }

    /// What the manual says the error means.
    pub fn describe(self) -> &'static str {
        match self {
            Error::Inval => "EINVAL: newlen or *oldlenp is too large or too small",
            Error::NoEnt => "ENOENT: name or mib specifies an unknown/invalid value",
            Error::Perm => "EPERM: attempt to read or write void value, or attempt to write read-only value",
            Error::Again => "EAGAIN: a memory allocation failure occurred",
            Error::Fault => "EFAULT: an interface with side effects failed in some way",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// One `mallctl*()` call's old and new value buffers, as the caller passed them.
#[derive(Clone, Copy)]
pub struct Req {
    pub oldp: *mut c_void,
    pub oldlenp: *mut usize,
    pub newp: *const c_void,
    pub newlen: usize,
}

impl Req {
    /// EPERM if the caller passed a new value.
    pub fn readonly(&self) -> Result<()> {
        if !self.newp.is_null() || self.newlen != 0 {
            return Err(Error::Perm);
        }
        Ok(())
    }

    /// EPERM if the caller asked for the old value.
    pub fn writeonly(&self) -> Result<()> {
        if !self.oldp.is_null() || !self.oldlenp.is_null() {
            return Err(Error::Perm);
        }
        Ok(())
    }

    /// Whether the caller asked for the old value.
    pub fn wants_old(&self) -> bool {
        !self.oldp.is_null() && !self.oldlenp.is_null()
    }

    /// Copies `bytes` out: exactly when `*oldlenp` matches, else as much as fits and EINVAL.
    ///
    /// # Safety
    /// When both are non-null, `oldlenp` is readable and `oldp` writable for `*oldlenp` bytes.
    pub unsafe fn read_bytes(&self, bytes: &[u8]) -> Result<()> {
        if !self.wants_old() {
            return Ok(());
        }
        // SAFETY: per the contract, oldlenp is readable and oldp has *oldlenp writable bytes.
        unsafe {
            let want = *self.oldlenp;
            let n = want.min(bytes.len());
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.oldp.cast::<u8>(), n);
            if want != bytes.len() {
                return Err(Error::Inval);
            }
        }
        Ok(())
    }

    /// Copies a plain value out (see [`Req::read_bytes`]).
    ///
    /// # Safety
    /// As [`Req::read_bytes`].
    pub unsafe fn read<T: Copy>(&self, v: T) -> Result<()> {
        // SAFETY: a Copy value of one of the manual's C types is plain bytes.
        let bytes = unsafe { core::slice::from_raw_parts((&v as *const T).cast::<u8>(), core::mem::size_of::<T>()) };
        // SAFETY: forwarded contract.
        unsafe { self.read_bytes(bytes) }
    }

    /// The new value, if one was passed; EINVAL if `newlen` is not its size.
    ///
    /// # Safety
    /// When non-null, `newp` is readable for `newlen` bytes.
    pub unsafe fn write<T: Copy>(&self) -> Result<Option<T>> {
        if self.newp.is_null() {
            return Ok(None);
        }
        if self.newlen != core::mem::size_of::<T>() {
            return Err(Error::Inval);
        }
        // SAFETY: newp holds newlen == size_of::<T>() readable bytes of a T the caller wrote.
        Ok(Some(unsafe { core::ptr::read_unaligned(self.newp.cast::<T>()) }))
    }

    /// Reads a [`Value`] out in its C representation.
    ///
    /// # Safety
    /// As [`Req::read_bytes`].
    unsafe fn read_value(&self, v: Value) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe {
            match v {
                Value::Bool(x) => self.read(x),
                Value::Size(x) => self.read(x),
                Value::Ssize(x) => self.read(x),
                Value::Unsigned(x) | Value::U32(x) => self.read(x),
                Value::U64(x) => self.read(x),
                Value::Str(x) => self.read(x),
                Value::SizePtr(x) => self.read(x),
                Value::U64Ptr(x) => self.read(x),
            }
        }
    }
}

/// What the lookup ended on.
#[derive(Clone, Copy)]
enum Cursor {
    Named(&'static [Node]),
    Indexed(&'static tree::Indexed),
    Leaf(&'static Leaf),
}

impl Cursor {
    fn of(node: &'static Node) -> Cursor {
        match &node.kind {
            Kind::Named(children) => Cursor::Named(children),
            Kind::Indexed(ix) => Cursor::Indexed(ix),
            Kind::Leaf(leaf) => Cursor::Leaf(leaf),
        }
    }
}

/// A decimal index component; anything else is no index.
fn parse_index(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v: usize = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as usize)?;
    }
    Some(v)
}

/// One step down from `cur` by MIB component `c`, which is position `depth` of `mib`.
fn step(cur: Cursor, mib: &[usize], depth: usize, c: usize) -> Result<Cursor> {
    match cur {
        Cursor::Named(children) => children.get(c).map(Cursor::of).ok_or(Error::NoEnt),
        Cursor::Indexed(ix) => {
            if (ix.valid)(&mib[..depth], c) {
                Ok(Cursor::Named(ix.children))
            } else {
                Err(Error::NoEnt)
            }
        }
        Cursor::Leaf(_) => Err(Error::NoEnt),
    }
}

/// Translates up to `mib.len()` components of `name` into `mib`. Returns how many it wrote and
/// where it stopped. A name that ends before a leaf is ENOENT; one longer than `mib` stops early.
fn lookup(name: &[u8], mib: &mut [usize]) -> Result<(usize, Cursor)> {
    let mut cur = Cursor::Named(ROOT);
    let mut depth = 0;
    let mut rest = name;
    loop {
        if depth == mib.len() {
            return Ok((depth, cur));
        }
        let end = rest.iter().position(|&b| b == b'.').unwrap_or(rest.len());
        let comp = &rest[..end];
        if comp.is_empty() {
            return Err(Error::NoEnt);
        }
        let c = match cur {
            Cursor::Named(children) => children.iter().position(|n| n.name.as_bytes() == comp).ok_or(Error::NoEnt)?,
            Cursor::Indexed(_) => parse_index(comp).ok_or(Error::NoEnt)?,
            Cursor::Leaf(_) => return Err(Error::NoEnt),
        };
        cur = step(cur, mib, depth, c)?;
        mib[depth] = c;
        depth += 1;
        if end == rest.len() {
            return match cur {
                Cursor::Leaf(_) => Ok((depth, cur)),
                _ => Err(Error::NoEnt),
            };
        }
        rest = &rest[end + 1..];
    }
}

/// The leaf at the end of a complete MIB.
fn resolve(mib: &[usize]) -> Result<&'static Leaf> {
    let mut cur = Cursor::Named(ROOT);
    for (depth, &c) in mib.iter().enumerate() {
        cur = step(cur, mib, depth, c)?;
    }
    match cur {
        Cursor::Leaf(leaf) => Ok(leaf),
        _ => Err(Error::NoEnt),
    }
}

/// Runs `leaf` for a complete `mib`.
///
/// # Safety
/// `req`'s pointers are valid as [`mallctl`] requires.
unsafe fn call(leaf: &Leaf, mib: &[usize], req: &Req) -> Result<()> {
    match leaf.handler {
        Handler::Value(f) => {
            req.readonly()?;
            // SAFETY: forwarded contract.
            unsafe { req.read_value(f(mib)) }
        }
        Handler::Stat(f) => {
            req.readonly()?;
            let v = snapshot::with(|s| f(s, mib))?;
            // SAFETY: forwarded contract.
            unsafe { req.read_value(v) }
        }
        // SAFETY: forwarded contract.
        Handler::Custom(f) => unsafe { f(mib, req) },
    }
}

fn ensure_init() -> Result<()> {
    if !crate::global::init() {
        return Err(Error::Again);
    }
    snapshot::ensure()
}

/// `mallctl()` with the name as bytes (no NUL).
///
/// # Safety
/// `req`'s pointers are null or valid for the value the name has, as the manual requires.
pub unsafe fn by_name(name: &[u8], req: &Req) -> Result<()> {
    ensure_init()?;
    let mut mib = [0usize; MAX_DEPTH];
    let (depth, cur) = lookup(name, &mut mib)?;
    match cur {
        // SAFETY: forwarded contract.
        Cursor::Leaf(leaf) => unsafe { call(leaf, &mib[..depth], req) },
        _ => Err(Error::NoEnt),
    }
}

/// `mallctlnametomib()` with Rust slices: fills at most `mib.len()` components and returns how
/// many.
pub fn name_to_mib(name: &[u8], mib: &mut [usize]) -> Result<usize> {
    ensure_init()?;
    lookup(name, mib).map(|(depth, _)| depth)
}

/// `mallctlbymib()` with the MIB as a slice.
///
/// # Safety
/// As [`by_name`].
pub unsafe fn by_mib(mib: &[usize], req: &Req) -> Result<()> {
    ensure_init()?;
    let leaf = resolve(mib)?;
    // SAFETY: forwarded contract.
    unsafe { call(leaf, mib, req) }
}

/// A name's C type and access, from the tree alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub ty: CType,
    pub access: Access,
}

/// The type and access of `name` (indices are checked against the current bounds).
pub fn describe(name: &[u8]) -> Result<Info> {
    ensure_init()?;
    let mut mib = [0usize; MAX_DEPTH];
    match lookup(name, &mut mib)? {
        (_, Cursor::Leaf(leaf)) => Ok(Info { ty: leaf.ty, access: leaf.access }),
        _ => Err(Error::NoEnt),
    }
}

/// Calls `f` with every name of the tree, indexed components written `<i>` (`<j>` one level
/// down), and its type and access, in tree order. The name is built in a fixed buffer.
pub fn walk(f: &mut dyn FnMut(&str, Info)) {
    let mut buf = crate::message::MessageBuf::<128>::new();
    walk_named(ROOT, &mut buf, f);
}

fn walk_named(children: &'static [Node], buf: &mut crate::message::MessageBuf<128>, f: &mut dyn FnMut(&str, Info)) {
    use core::fmt::Write;
    let base = buf.as_bytes().len();
    for node in children {
        buf.truncate(base);
        if base != 0 {
            let _ = buf.write_str(".");
        }
        let _ = buf.write_str(node.name);
        walk_node(node, buf, f);
    }
    buf.truncate(base);
}

fn walk_node(node: &'static Node, buf: &mut crate::message::MessageBuf<128>, f: &mut dyn FnMut(&str, Info)) {
    use core::fmt::Write;
    match &node.kind {
        Kind::Leaf(leaf) => f(buf.as_str(), Info { ty: leaf.ty, access: leaf.access }),
        Kind::Named(children) => walk_named(children, buf, f),
        Kind::Indexed(ix) => {
            let _ = buf.write_str(".");
            let _ = buf.write_str(ix.label);
            walk_named(ix.children, buf, f);
        }
    }
}

/// The ctl lock (for the fork handlers): guards the statistics snapshot.
pub fn lock() -> &'static crate::mutex::RawMutex {
    snapshot::lock()
}

/// The manual's `mallctl()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `oldp`/`oldlenp` are both null or point at a buffer of
/// `*oldlenp` writable bytes and its length; `newp` is null or points at `newlen` readable bytes.
pub unsafe extern "C" fn mallctl(
    name: *const c_char,
    oldp: *mut c_void,
    oldlenp: *mut usize,
    newp: *mut c_void,
    newlen: usize,
) -> c_int {
    if name.is_null() {
        return Error::NoEnt.code();
    }
    // SAFETY: the caller passes a NUL-terminated name.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    let req = Req { oldp, oldlenp, newp, newlen };
    // SAFETY: forwarded contract.
    match unsafe { by_name(name, &req) } {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// The manual's `mallctlnametomib()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `miblenp` is readable and writable and `mibp` writable for
/// `*miblenp` entries.
pub unsafe extern "C" fn nametomib(name: *const c_char, mibp: *mut usize, miblenp: *mut usize) -> c_int {
    if name.is_null() || mibp.is_null() || miblenp.is_null() {
        return Error::NoEnt.code();
    }
    // SAFETY: per the contract.
    let (name, mib) = unsafe {
        let n = (*miblenp).min(MAX_DEPTH);
        (core::ffi::CStr::from_ptr(name).to_bytes(), core::slice::from_raw_parts_mut(mibp, n))
    };
    match name_to_mib(name, mib) {
        Ok(depth) => {
            // SAFETY: miblenp is writable.
            unsafe { *miblenp = depth };
            0
        }
        Err(e) => e.code(),
    }
}

/// The manual's `mallctlbymib()`.
///
/// # Safety
/// `mib` is readable for `miblen` entries; the value pointers are as for [`mallctl`].
pub unsafe extern "C" fn bymib(
    mib: *const usize,
    miblen: usize,
    oldp: *mut c_void,
    oldlenp: *mut usize,
    newp: *mut c_void,
    newlen: usize,
) -> c_int {
    if mib.is_null() || miblen > MAX_DEPTH {
        return Error::NoEnt.code();
    }
    // SAFETY: the caller passes miblen readable entries.
    let mib = unsafe { core::slice::from_raw_parts(mib, miblen) };
    let req = Req { oldp, oldlenp, newp, newlen };
    // SAFETY: forwarded contract.
    match unsafe { by_mib(mib, &req) } {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}
