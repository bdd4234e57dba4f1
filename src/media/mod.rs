//! Media: what a byte stream is ([`sniff`]) and decoding it ([`image`]),
//! within a memory limit known before decoding ([`decode_cost`]).

pub mod decode_cost;
pub mod image;
pub mod sniff;

pub use sniff::{sniff, ImageFormat, MediaKind};
