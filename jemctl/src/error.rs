//! Exit codes: 0 ok, 1 failure, 2 usage (clap's own errors exit 2 as well).

use std::fmt;

/// An error in what the user asked for, as opposed to a failure while doing it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
