//! Media: what a byte stream is ([`sniff`]) and decoding it ([`image`]).

pub mod image;
pub mod sniff;

pub use sniff::{sniff, ImageFormat, MediaKind};
