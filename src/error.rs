//! The error of one item (a file, an archive member).
//!
//! A bad file is an outcome, not a crash: every item yields a record, and
//! when something went wrong the record carries an [`ItemError`] whose
//! [`ErrorKind`] is part of the output contract (`io`, `decode`, `limit`,
//! `unsupported`, `timeout`, `crash`).

use serde::Serialize;
use std::fmt;

/// The kind of an item's error: a stable, machine-readable category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The file could not be opened or read (vanished, permissions, a fifo).
    Io,
    /// The content is damaged or not what its header says.
    Decode,
    /// A safety limit refused it (pixels, bytes, frames, duration, ratio).
    Limit,
    /// A format or feature this build cannot handle.
    Unsupported,
    /// The per-file wall-clock limit ran out.
    Timeout,
    /// The sandboxed decoder process died on this item (a signal: a crash
    /// or abort in a decoder, the worker's memory or CPU-time limit, the
    /// OOM killer). See [`crate::sandbox`].
    Crash,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Decode => "decode",
            ErrorKind::Limit => "limit",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Crash => "crash",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with one item: a kind plus a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ItemError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ItemError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ItemError {
            kind,
            message: message.into(),
        }
    }

    /// An I/O error, with what we were doing when it happened.
    pub fn io(context: &str, e: &std::io::Error) -> Self {
        ItemError::new(ErrorKind::Io, format!("{context}: {e}"))
    }
}
