//! The hash list of hashsieve.
//!
//! This crate holds what the scanner, the service and the list tools share and
//! nothing that decodes media: the hash value types, the SQLite store, list
//! formats, the vPDQ bag comparison, the in-memory Hamming index and the
//! TMK+PDQF video hash (its files, accumulation and scores). Keeping image
//! and FFmpeg code out of it lets a tool that only moves lists around build
//! in seconds.

pub mod error;
pub mod formats;
pub mod index;
pub mod matcher;
pub mod model;
pub mod store;
pub mod tmk;
pub mod types;
pub mod vpdq;

pub use types::{Blake3, HexError, Md5, Pdq, Sha256, SignalType, UnknownSignalType};
