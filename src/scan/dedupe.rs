//! Same content, hashed once per run.
//!
//! Backlogs are full of copies (the same video in ten folders and three
//! archives). The BLAKE3 of the bytes (cheap: ~4 GB/s) is taken before any
//! decoding; when a record for that content already exists its hashes and
//! matches are reused under the new path. Only decoded media (images,
//! videos) are kept, and the cache is capped by an estimate of its bytes,
//! so memory stays bounded whatever the input.

use crate::error::ErrorKind;
use crate::record::{display_path, FileRecord, Media};
use hashdb::Blake3;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// BLAKE3 -> the record made for that content.
pub struct ContentCache {
    inner: Mutex<Inner>,
    cap_bytes: usize,
}

struct Inner {
    map: HashMap<Blake3, Arc<FileRecord>>,
    bytes: usize,
}

fn weight(r: &FileRecord) -> usize {
    512 + r.path.len() + r.pdq.len() * 80 + r.matches.as_ref().map_or(0, |m| m.len() * 400)
}

impl ContentCache {
    /// A cache holding at most about `cap_bytes` of records.
    pub fn new(cap_bytes: usize) -> Self {
        ContentCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
            }),
            cap_bytes,
        }
    }

    /// The record of content `key` re-labelled with `path`, if seen.
    pub fn get(&self, key: &Blake3, path: &Path) -> Option<FileRecord> {
        let hit = self.inner.lock().ok()?.map.get(key).cloned()?;
        let mut r = (*hit).clone();
        let (display, raw) = display_path(path);
        r.path = display;
        r.path_raw_hex = raw;
        r.path_os = path.to_path_buf();
        Some(r)
    }

    /// Forget every record (a queue worker whose matches were made while
    /// the database was away: their entries' labels are missing).
    pub fn clear(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.map.clear();
            g.bytes = 0;
        }
    }

    /// Remember `rec` (if it is decoded media and the outcome does not
    /// depend on the moment: I/O errors, timeouts and crashes of the
    /// sandboxed decoder, which can be the machine's memory running out,
    /// are not kept).
    pub fn put(&self, rec: &FileRecord) {
        let Some(key) = rec.blake3 else { return };
        if rec.media != Media::Image && rec.media != Media::Video {
            return;
        }
        if rec.error.as_ref().is_some_and(|e| {
            matches!(
                e.kind,
                ErrorKind::Io | ErrorKind::Timeout | ErrorKind::Crash
            )
        }) {
            return;
        }
        let w = weight(rec);
        if let Ok(mut g) = self.inner.lock() {
            if g.bytes + w > self.cap_bytes || g.map.contains_key(&key) {
                return;
            }
            g.bytes += w;
            g.map.insert(key, Arc::new(rec.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_under_the_new_path_and_respects_the_cap() {
        let mut r = FileRecord::new(Path::new("a.jpg"));
        r.media = Media::Image;
        r.blake3 = Some(Blake3([1; 32]));
        r.width = Some(10);
        let c = ContentCache::new(10_000);
        c.put(&r);
        let got = c.get(&Blake3([1; 32]), Path::new("b/c.jpg")).unwrap();
        assert_eq!(got.path, "b/c.jpg");
        assert_eq!(got.width, Some(10));
        assert!(c.get(&Blake3([2; 32]), Path::new("x")).is_none());
        let tiny = ContentCache::new(10);
        tiny.put(&r);
        assert!(tiny.get(&Blake3([1; 32]), Path::new("x")).is_none());
    }
}
