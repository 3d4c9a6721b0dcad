//! Diagnostic messages: everything the allocator says goes through `malloc_message`.
//!
//! Mirrors jemalloc 2.2.1 `malloc_message` / `malloc_write`. The sink is a function pointer a
//! program may replace. In C it is the variable `malloc_message` that `libjemalloc_rs.so`
//! exports: [`hook`] reads it through a weak reference on every message, so an assignment by
//! the program (even to the program's own copy-relocated instance) takes effect at once. Where no
//! such variable exists (the engine linked into a Rust program) the sink is the one [`set_hook`]
//! installs. The default writes to file descriptor 2. Text is built in a fixed buffer on the
//! stack with [`core::fmt::Write`]; nothing here allocates.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, Ordering};

/// The C signature of `malloc_message`: `void (*)(void *cbopaque, const char *s)`.
pub type MessageFn = unsafe extern "C" fn(cbopaque: *mut libc::c_void, s: *const libc::c_char);

/// The default sink: write(2) to standard error.
///
/// # Safety
/// `s` is a NUL-terminated string.
pub unsafe extern "C" fn write_stderr(_cbopaque: *mut libc::c_void, s: *const libc::c_char) {
    // SAFETY: the caller passes a NUL-terminated string.
    let len = unsafe { libc::strlen(s) };
    let mut done = 0;
    while done < len {
        // SAFETY: `s + done .. s + len` is readable.
        let n = unsafe { libc::write(2, s.add(done).cast(), len - done) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}

static HOOK: AtomicPtr<()> = AtomicPtr::new(write_stderr as *mut ());

/// Replaces the message sink; null restores the default.
pub fn set_hook(f: Option<MessageFn>) {
    let p = match f {
        Some(f) => f as *mut (),
        None => write_stderr as *mut (),
    };
    HOOK.store(p, Ordering::Release);
}

/// The current message sink: the C variable `malloc_message` where the process has one, else
/// the hook [`set_hook`] installed.
pub fn hook() -> MessageFn {
    if let Some(slot) = program_malloc_message() {
        // SAFETY: a defined malloc_message is a `void (*)(void *, const char *)` variable; the
        // program may assign it at any time, so read it afresh.
        let f = unsafe { core::ptr::read_volatile(slot) };
        return f.unwrap_or(write_stderr);
    }
    let p = HOOK.load(Ordering::Acquire);
    // SAFETY: HOOK only ever holds a MessageFn cast to a pointer.
    unsafe { core::mem::transmute::<*mut (), MessageFn>(p) }
}

/// The address of the `malloc_message` variable if some object of the process defines it: an
/// undefined weak reference resolves to null.
#[cfg(target_arch = "x86_64")]
fn program_malloc_message() -> Option<*const Option<MessageFn>> {
    let slot: *const Option<MessageFn>;
    // SAFETY: loads the address of a weak symbol from the GOT; no memory is written.
    unsafe {
        core::arch::asm!(
            concat!(".weak ", crate::c_name!("malloc_message")),
            concat!("mov {0}, qword ptr [rip + ", crate::c_name!("malloc_message"), "@GOTPCREL]"),
            out(reg) slot,
            options(nostack, preserves_flags, readonly),
        );
    }
    (!slot.is_null()).then_some(slot)
}

#[cfg(not(target_arch = "x86_64"))]
fn program_malloc_message() -> Option<*const Option<MessageFn>> {
    None
}

/// A fixed-size, NUL-terminated text buffer; writes past its end are cut.
pub struct MessageBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> MessageBuf<N> {
    pub const fn new() -> Self {
        MessageBuf { buf: [0; N], len: 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Cuts the text back to its first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The text (cut at a character boundary if a write overflowed mid-character).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            // SAFETY: bytes up to valid_up_to() are valid UTF-8.
            Err(e) => unsafe { core::str::from_utf8_unchecked(&self.buf[..e.valid_up_to()]) },
        }
    }

    /// The text as a C string (the buffer always keeps room for the NUL).
    pub fn as_c_str(&mut self) -> *const libc::c_char {
        self.buf[self.len] = 0;
        self.buf.as_ptr().cast()
    }
}

impl<const N: usize> Default for MessageBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for MessageBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `<jemalloc>: ` followed by the formatted text and a newline through the hook.
pub fn say(args: fmt::Arguments<'_>) {
    let mut m = MessageBuf::<512>::new();
    let _ = m.write_str("<jemalloc>: ");
    let _ = m.write_fmt(args);
    let _ = m.write_str("\n");
    // SAFETY: as_c_str returns a NUL-terminated buffer that outlives the call.
    unsafe { hook()(core::ptr::null_mut(), m.as_c_str()) };
}

/// Says `what` and aborts the process: for conditions the manual says end the program.
#[cold]
pub fn fatal(what: &str) -> ! {
    say(format_args!("{}", what));
    // SAFETY: abort never returns and has no preconditions.
    unsafe { libc::abort() }
}

/// `say!` formats a `<jemalloc>: ` message without allocating.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::message::say(format_args!($($arg)*)) };
}
