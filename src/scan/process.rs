//! One input file of the scan, with everything inside it.
//!
//! A plain file is read once: small ones whole into memory (so their
//! BLAKE3 can be looked up before decoding), large ones streamed by
//! [`hash_path`]. An archive gets a record of its own (its digests, taken
//! while its members are read) and one record per member, nested archives
//! included, at locations like `a.zip!/b.tar!/c.mp4`.
//!
//! Member records are handed to an [`Emit`] as soon as each is made, and
//! nothing is kept per member: an archive of 300,000 members costs the
//! memory of one, and its records reach the report while it is read. An
//! archive's own record needs every byte read, so it comes after its
//! members (a nested archive's too).

use super::dedupe::ContentCache;
use super::ScanConfig;
use crate::archive::{self, ArchiveKind, Budget, Ended, MemberEvent};
use crate::error::{ErrorKind, ItemError};
use crate::hashing::crypto::{digest, MultiDigest};
use crate::hashing::reader::HashingReader;
use crate::hashing::Worker;
use crate::matching::RecordMatcher;
use crate::record::FileRecord;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// How much of a compressed file is read to tell whether it holds a tar.
const PROBE_LEN: usize = 64 << 10;

/// What the per-file work needs, shared by all workers.
pub struct Ctx<'a> {
    pub cfg: &'a ScanConfig,
    /// Where items are decoded (in-process, or sandboxed workers).
    pub isolation: &'a crate::sandbox::Isolation,
    pub matcher: Option<&'a RecordMatcher>,
    pub cache: &'a ContentCache,
    /// True once the scan must stop (Ctrl-C, a fatal error): asked before
    /// each archive member.
    pub stop: &'a (dyn Fn() -> bool + Sync),
}

/// Where the records of an archive's members go, one at a time.
pub type Emit<'e> = dyn FnMut(FileRecord) + 'e;

/// How scanning one input file ended.
#[derive(Debug)]
pub enum Scanned {
    /// The file's own record (an archive's, after its members were
    /// emitted).
    Done(Box<FileRecord>),
    /// Stopped inside an archive: the members emitted so far are
    /// complete records; the archive has no record of its own.
    Stopped,
}

/// Counters a worker keeps (summed into the summary).
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkStats {
    /// Items whose hashes came from the same-content cache.
    pub deduplicated: u64,
}

/// `parent!/name`, byte for byte (never `Path::join`: a member named
/// `/etc/passwd` or `../x` must stay part of the location, as is).
pub fn member_location(parent: &Path, name: &[u8]) -> PathBuf {
    let mut v = parent.as_os_str().as_bytes().to_vec();
    v.extend_from_slice(b"!/");
    v.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(v))
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut Vec<u8>, limit: u64) -> std::io::Result<()> {
    buf.clear();
    r.take(limit).read_to_end(buf).map(|_| ())
}

/// Which archive `head` (and the data it starts) is, if any.
fn archive_kind(head: &[u8]) -> Option<ArchiveKind> {
    match archive::detect(head)? {
        k @ (ArchiveKind::TarGz | ArchiveKind::TarZst | ArchiveKind::TarXz) => {
            archive::is_tar_stream(k, head).then_some(k)
        }
        k => Some(k),
    }
}

impl Scanned {
    fn done(rec: FileRecord) -> Scanned {
        Scanned::Done(Box::new(rec))
    }
}

impl Ctx<'_> {
    fn finish(&self, mut rec: FileRecord) -> FileRecord {
        if let Some(m) = self.matcher {
            rec.matches = Some(m.match_record(&rec));
            rec.strip_query_side();
        }
        rec
    }

    /// Hash (or reuse) in-memory content recorded at `path`.
    fn content(
        &self,
        path: &Path,
        data: &[u8],
        worker: &mut Worker,
        stats: &mut WorkStats,
    ) -> FileRecord {
        let key = hashdb::Blake3(*blake3::hash(data).as_bytes());
        if let Some(r) = self.cache.get(&key, path) {
            stats.deduplicated += 1;
            return r;
        }
        let rec = self.finish(
            self.isolation
                .hash_bytes(path, data, &self.cfg.hash, worker),
        );
        self.cache.put(&rec);
        rec
    }

    /// Scan the file at `path` (of `size` bytes when it was walked): the
    /// records of an archive's members go to `emit` as they are made, the
    /// file's own record is returned.
    pub fn scan_file(
        &self,
        path: &Path,
        size: u64,
        worker: &mut Worker,
        stats: &mut WorkStats,
        emit: &mut Emit<'_>,
    ) -> Scanned {
        use std::os::unix::fs::OpenOptionsExt;
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .and_then(|f| f.metadata().map(|m| (f, m)));
        let (mut file, meta) = match opened {
            Ok((f, m)) if m.is_file() => (f, m),
            // Not a regular file, or unreadable: the hashing code reports
            // it the same way `hash` does.
            _ => return Scanned::done(self.isolation.hash_path(path, &self.cfg.hash, worker)),
        };
        let len = meta.len();
        let mut head = Vec::with_capacity(PROBE_LEN);
        if let Err(e) = read_up_to(&mut file, &mut head, PROBE_LEN as u64) {
            return Scanned::done(FileRecord::failed(path, ItemError::io("read", &e)));
        }
        if let Some(kind) = archive_kind(&head) {
            if self.cfg.archives.max_depth >= 1 {
                if let Err(e) = file.seek(SeekFrom::Start(0)) {
                    return Scanned::done(FileRecord::failed(path, ItemError::io("seek", &e)));
                }
                return self.scan_archive_file(path, kind, file, worker, stats, emit);
            }
        }
        let mut rec = if len <= self.cfg.in_memory_max {
            // Read exactly what the file held when opened; more means it
            // grew while we read it.
            let mut data = head;
            let res = (&mut file)
                .take(len.saturating_sub(data.len() as u64))
                .read_to_end(&mut data);
            if let Err(e) = res {
                return Scanned::done(FileRecord::failed(path, ItemError::io("read", &e)));
            }
            let mut probe = [0u8; 1];
            let grew = matches!(file.read(&mut probe), Ok(1));
            let mut rec = self.content(path, &data, worker, stats);
            if grew && rec.error.is_none() {
                rec.error = Some(ItemError::new(
                    ErrorKind::Io,
                    format!(
                        "file grew while being read: hashed its first {} bytes",
                        data.len()
                    ),
                ));
            }
            rec
        } else if matches!(crate::media::sniff(&head), crate::media::MediaKind::Video) {
            // A large video: decoding costs minutes, a BLAKE3 pass over the
            // file (mostly from the page cache afterwards) costs a second
            // per GB, so look for the same content first.
            let mut hasher = blake3::Hasher::new();
            let known = file
                .seek(SeekFrom::Start(0))
                .and_then(|_| hasher.update_reader(&mut file).map(|_| ()))
                .ok()
                .and_then(|()| {
                    let key = hashdb::Blake3(*hasher.finalize().as_bytes());
                    self.cache.get(&key, path)
                });
            drop(file);
            match known {
                Some(r) => {
                    stats.deduplicated += 1;
                    r
                }
                None => {
                    let rec = self.finish(self.isolation.hash_path(path, &self.cfg.hash, worker));
                    self.cache.put(&rec);
                    rec
                }
            }
        } else {
            drop(file);
            self.finish(self.isolation.hash_path(path, &self.cfg.hash, worker))
        };
        if rec.error.is_none() && rec.bytes != size && rec.bytes != len {
            rec.error = Some(ItemError::new(
                ErrorKind::Io,
                format!(
                    "file changed while being scanned ({size} bytes when listed, {} bytes read)",
                    rec.bytes
                ),
            ));
        }
        Scanned::done(rec)
    }

    fn scan_archive_file(
        &self,
        path: &Path,
        kind: ArchiveKind,
        file: File,
        worker: &mut Worker,
        stats: &mut WorkStats,
        emit: &mut Emit<'_>,
    ) -> Scanned {
        let budget = Budget::new(&self.cfg.archives);
        let mut reader = HashingReader::new(file, MultiDigest::new());
        let res = self.visit(path, kind, &mut reader, 1, &budget, worker, stats, emit);
        if let Ok(Ended::Stopped) = res {
            return Scanned::Stopped;
        }
        let mut rec = FileRecord::new(path);
        rec.media = crate::record::Media::Archive;
        match reader.finish() {
            Ok((d, n)) => rec.set_digests(&d, n),
            Err(e) => rec.error = Some(ItemError::io("read", &e)),
        }
        if let Err(e) = res {
            rec.error.get_or_insert(e);
        }
        Scanned::done(self.finish(rec))
    }

    /// Read the members of an archive at nesting `depth` (1 = outermost),
    /// emitting their records.
    #[allow(clippy::too_many_arguments)]
    fn visit<R: Read + Seek>(
        &self,
        location: &Path,
        kind: ArchiveKind,
        reader: R,
        depth: u32,
        budget: &Budget,
        worker: &mut Worker,
        stats: &mut WorkStats,
        emit: &mut Emit<'_>,
    ) -> Result<Ended, ItemError> {
        let mut buf = Vec::new();
        let limits = &self.cfg.archives;
        archive::visit(
            kind,
            reader,
            limits,
            budget,
            &mut buf,
            self.stop,
            &mut |ev| match ev {
                MemberEvent::File { name, data } => {
                    let loc = member_location(location, name);
                    self.scan_member(&loc, data, depth, budget, worker, stats, emit);
                }
                MemberEvent::Failed {
                    name,
                    error,
                    digests,
                } => {
                    let loc = member_location(location, name);
                    let mut rec = FileRecord::new(&loc);
                    if let Some((d, n)) = digests {
                        rec.set_digests(&d, n);
                    }
                    rec.error = Some(error);
                    emit(self.finish(rec));
                }
            },
        )
    }

    /// One member read whole: hashed, or opened when it is an archive
    /// itself (whose record then follows its own members).
    #[allow(clippy::too_many_arguments)]
    fn scan_member(
        &self,
        loc: &Path,
        data: &[u8],
        depth: u32,
        budget: &Budget,
        worker: &mut Worker,
        stats: &mut WorkStats,
        emit: &mut Emit<'_>,
    ) {
        let head = &data[..data.len().min(PROBE_LEN)];
        let Some(kind) = archive_kind(head) else {
            emit(self.content(loc, data, worker, stats));
            return;
        };
        let mut rec = FileRecord::new(loc);
        rec.media = crate::record::Media::Archive;
        rec.set_digests(&digest(data), data.len() as u64);
        if depth >= self.cfg.archives.max_depth {
            rec.error = Some(ItemError::new(
                ErrorKind::Limit,
                format!(
                    "{} archive nested deeper than {} levels: not opened",
                    kind.name(),
                    self.cfg.archives.max_depth
                ),
            ));
            emit(self.finish(rec));
            return;
        }
        let res = self.visit(
            loc,
            kind,
            Cursor::new(data),
            depth + 1,
            budget,
            worker,
            stats,
            emit,
        );
        match res {
            // Not reported: the outer archive stops at its next member.
            Ok(Ended::Stopped) => return,
            Ok(Ended::Complete) => {}
            Err(e) => rec.error = Some(e),
        }
        emit(self.finish(rec));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_locations_keep_names_as_is() {
        let p = member_location(Path::new("a.zip"), b"../../etc/passwd");
        assert_eq!(p, PathBuf::from("a.zip!/../../etc/passwd"));
        let p = member_location(
            &member_location(Path::new("a.zip"), b"b.tar"),
            b"/abs/c.mp4",
        );
        assert_eq!(p, PathBuf::from("a.zip!/b.tar!//abs/c.mp4"));
    }
}
