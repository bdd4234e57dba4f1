//! Video: vPDQ through FFmpeg. (Being written: see issue 3.)

use crate::error::{ErrorKind, ItemError};
use crate::hashing::reader::HashingReader;
use crate::pdq::PdqHasher;
use crate::record::FileRecord;
use std::io::{Read, Seek};

/// How videos are sampled and limited.
#[derive(Debug, Clone, Default)]
pub struct VideoOptions {}

/// Decode the video behind `reader` and fill `rec` (media facts and one
/// PDQ item per hashed frame).
pub fn hash_video_into<R: Read + Seek>(
    _reader: &mut HashingReader<R>,
    _rec: &mut FileRecord,
    _opts: &VideoOptions,
    _pdq: &mut PdqHasher,
) -> Result<(), ItemError> {
    Err(ItemError::new(
        ErrorKind::Unsupported,
        "video hashing is not implemented yet",
    ))
}
