//! Overlapping zip members: the bytes of one member reused by others.
//!
//! A zip's central directory may point any number of entries at the same
//! local header, or make each entry's header sit inside the previous
//! entry's data (Fifield's "better zip bomb"). Every such entry expands
//! and decodes the same bytes again, so the work is no longer bounded by
//! the archive's size: 1,000 entries at one stored 100 MP PNG ran for
//! minutes. As zip-bomb defences do, the members' spans (local header to
//! end of data) are sorted by offset and each must end before the next
//! starts; a member whose span starts inside one already kept is refused,
//! so the members read never share a byte.

use std::io::{Read, Seek};

/// Where one member's local header and data lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The member's index in the central directory.
    pub index: usize,
    /// Offset of its local header.
    pub start: u64,
    /// Offset just past its compressed data.
    pub end: u64,
}

/// For each member index, the kept member it overlaps (`None`: it shares
/// no byte with a kept member and may be read). Among members at the same
/// offset, the first in the central directory is kept.
pub fn refused(spans: &mut [Span], members: usize) -> Vec<Option<usize>> {
    spans.sort_unstable_by_key(|s| (s.start, s.index));
    let mut out = vec![None; members];
    // Kept spans are disjoint and sorted, so the last kept one ends last.
    let mut last: Option<Span> = None;
    for s in spans.iter() {
        match last {
            Some(k) if s.start < k.end => {
                if let Some(slot) = out.get_mut(s.index) {
                    *slot = Some(k.index);
                }
            }
            _ => last = Some(*s),
        }
    }
    out
}

/// The spans of the file members of `zip` (directories are never read,
/// so they cannot multiply work). A member whose local header cannot be
/// read is left out: reading it fails on its own.
pub fn spans<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Vec<Span> {
    let mut out = Vec::new();
    for index in 0..zip.len() {
        // The raw view reads the local header (to find where the data
        // starts) without decompressing anything; the zip crate keeps
        // that offset, so reading the member later does not parse it
        // again.
        let Ok(m) = zip.by_index_raw(index) else {
            continue;
        };
        if m.is_dir() {
            continue;
        }
        out.push(Span {
            index,
            start: m.header_start(),
            end: m.data_start().saturating_add(m.compressed_size()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(index: usize, start: u64, end: u64) -> Span {
        Span { index, start, end }
    }

    #[test]
    fn entries_at_one_header_keep_only_the_first() {
        let mut s: Vec<Span> = (0..4).rev().map(|i| span(i, 0, 500)).collect();
        assert_eq!(refused(&mut s, 4), vec![None, Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn a_header_inside_kept_data_is_refused_and_disjoint_members_are_kept() {
        // 1 starts inside 0 (a quoted overlap); 2 starts inside 1 only,
        // which was refused, so 2 shares no byte with a kept member.
        let mut s = vec![
            span(0, 0, 100),
            span(1, 60, 300),
            span(2, 200, 400),
            span(3, 400, 450),
        ];
        assert_eq!(refused(&mut s, 4), vec![None, Some(0), None, None]);
    }
}
