//! Archives read in place: zip, and tar (plain, gzip, zstd or xz).
//!
//! Seized drives and takedown backlogs are full of archives, and the media
//! inside them is what we are looking for. Members are read into memory one
//! at a time and handed to the caller, never written to disk: nothing an
//! archive says (`../` names, absolute paths, links) can touch the file
//! system. Every read goes through a [`guard`] that enforces the expansion
//! limits *while* decompressing, so a zip bomb costs a bounded amount of
//! work and memory, and a bad member is an outcome for that member while the
//! rest of the archive is still read.
//!
//! Archives are recognised by content ([`detect`]), never by name. Nesting
//! (an archive inside an archive) is the caller's business: it sees a
//! member's bytes and may call [`visit`] again, tracking the depth.

mod guard;
mod tarfmt;
mod tarwalk;
mod zipfmt;
mod zipspan;

use crate::error::{ErrorKind, ItemError};
use crate::hashing::crypto::{Digests, MultiDigest};
use std::cell::Cell;
use std::io::{Read, Seek};

/// Container formats we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    /// A gzip stream holding a tar.
    TarGz,
    /// A zstd stream holding a tar.
    TarZst,
    /// An xz stream holding a tar.
    TarXz,
}

impl ArchiveKind {
    /// Name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarZst => "tar.zst",
            ArchiveKind::TarXz => "tar.xz",
        }
    }
}

/// Safety limits of archive reading, set before anything is decompressed.
#[derive(Debug, Clone)]
pub struct ArchiveLimits {
    /// Archives nested deeper than this are not opened (their bytes are
    /// still hashed); the outermost archive is depth 1.
    pub max_depth: u32,
    /// Largest member read into memory to be hashed and decoded. Larger
    /// members get their cryptographic hashes (streamed) and a `limit`
    /// error.
    pub max_member_bytes: u64,
    /// Largest expansion ratio (decompressed / compressed) accepted ...
    pub max_ratio: u64,
    /// ... once a member (or a compressed stream) has produced more than
    /// this many bytes: small, very compressible files are normal.
    pub ratio_floor: u64,
    /// Total decompressed bytes one top-level archive may produce,
    /// nested archives included.
    pub max_total_bytes: u64,
    /// Most members read from one top-level archive, nested archives
    /// included (each member costs work, whatever its size).
    pub max_members: u64,
    /// Longest tar member name (GNU long name, PAX `path`) read; a member
    /// with a longer one gets a `limit` error.
    pub max_name_bytes: u64,
    /// Largest tar PAX header read; a member described by a larger one
    /// gets a `limit` error.
    pub max_pax_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 3,
            max_member_bytes: 256 << 20,
            max_ratio: 100,
            ratio_floor: 1 << 20,
            max_total_bytes: 64 << 30,
            max_members: 1_000_000,
            max_name_bytes: 4096,
            max_pax_bytes: 1 << 20,
        }
    }
}

/// Shared state of one top-level archive's reading: the decompressed
/// bytes and the members left, so nested archives cannot multiply them.
pub struct Budget {
    left: Cell<u64>,
    members_left: Cell<u64>,
}

impl Budget {
    pub fn new(limits: &ArchiveLimits) -> Self {
        Budget {
            left: Cell::new(limits.max_total_bytes),
            members_left: Cell::new(limits.max_members),
        }
    }

    /// Count one more member; false when the top-level archive has had
    /// as many as it may.
    fn take_member(&self) -> bool {
        match self.members_left.get().checked_sub(1) {
            Some(rest) => {
                self.members_left.set(rest);
                true
            }
            None => false,
        }
    }

    /// Take `n` bytes from the budget; false when it ran out.
    fn take(&self, n: u64) -> bool {
        match self.left.get().checked_sub(n) {
            Some(rest) => {
                self.left.set(rest);
                true
            }
            None => {
                self.left.set(0);
                false
            }
        }
    }
}

/// One member, as handed to the caller of [`visit`].
pub enum MemberEvent<'a> {
    /// A regular file, read whole into memory.
    File { name: &'a [u8], data: &'a [u8] },
    /// A member that was not read whole: too large (its `digests` were
    /// streamed when the ratio allowed it), encrypted, damaged, refused.
    Failed {
        name: &'a [u8],
        error: ItemError,
        digests: Option<(Digests, u64)>,
    },
}

/// How a [`visit`] ended without an archive-level error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every member was handed over.
    Complete,
    /// The caller's `stop` said so (Ctrl-C) before a member: the rest
    /// were not read.
    Stopped,
}

/// What [`detect`] needs to look at: the first bytes of the data (the
/// decompressed start of a compressed stream is checked by [`visit`]).
pub const DETECT_LEN: usize = 512;

/// Recognise an archive from its first bytes (up to [`DETECT_LEN`]).
///
/// Compressed streams (gzip, zstd, xz) are reported as tar candidates;
/// [`is_tar_stream`] tells whether the decompressed data really is a tar.
pub fn detect(head: &[u8]) -> Option<ArchiveKind> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Some(ArchiveKind::Zip);
    }
    if starts(&[0x1f, 0x8b]) {
        return Some(ArchiveKind::TarGz);
    }
    if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(ArchiveKind::TarZst);
    }
    if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Some(ArchiveKind::TarXz);
    }
    if is_tar_header(head) {
        return Some(ArchiveKind::Tar);
    }
    None
}

/// A tar header block: `ustar` magic, or (old v7 archives) a valid
/// header checksum.
pub fn is_tar_header(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    // v7: the checksum field (octal) equals the sum of the header bytes
    // with the field itself counted as spaces; an all-zero block is not a
    // header.
    let field = &head[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if digits.is_empty() {
        return false;
    }
    let mut want = 0u64;
    for d in digits {
        want = want * 8 + u64::from(d - b'0');
    }
    let sum: u64 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == want && head[0] != 0
}

/// Whether a compressed stream of `kind` decompresses to a tar. Reads at
/// most one block of decompressed data.
///
/// `reader` may be just the start of the stream: whatever decompresses
/// before it ends (or breaks) is looked at.
pub fn is_tar_stream<R: Read>(kind: ArchiveKind, reader: R) -> bool {
    if kind == ArchiveKind::Zip {
        return false;
    }
    let Ok(stream) = decompressor(kind, reader) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    let mut stream = stream.take(512);
    let mut chunk = [0u8; 512];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    is_tar_header(&head)
}

/// The decompressed stream of a tar of `kind` (plain tar: `reader`
/// itself), for both the sniffing above and the walk of `tarfmt`, so the
/// two always read the same decoders with the same settings (gzip and xz
/// as multi-member streams, as their command-line tools write them).
///
/// # Errors
/// A zstd stream whose decoder cannot start.
pub(crate) fn decompressor<'a, R: Read + 'a>(
    kind: ArchiveKind,
    reader: R,
) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        ArchiveKind::Tar | ArchiveKind::Zip => Box::new(reader),
        ArchiveKind::TarGz => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ArchiveKind::TarZst => Box::new(zstd::stream::read::Decoder::new(reader)?),
        ArchiveKind::TarXz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
    })
}

/// Feed the rest of `r` into `digest`: a member too large to read into
/// memory is still hashed, so it can match a cryptographic hash.
fn digest_rest(r: &mut dyn Read, digest: &mut MultiDigest) -> std::io::Result<()> {
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => digest.update(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The event of a member of `bytes` bytes read only through its digests
/// (over `max_member_bytes`).
fn oversized<'a>(name: &'a [u8], digest: MultiDigest, limits: &ArchiveLimits) -> MemberEvent<'a> {
    let bytes = digest.bytes();
    MemberEvent::Failed {
        name,
        error: limit(format!(
            "member of {bytes} bytes is over the limit of {} bytes read into memory: only its cryptographic hashes were computed",
            limits.max_member_bytes
        )),
        digests: Some((digest.finish(), bytes)),
    }
}

/// Read every member of the archive behind `reader`, calling `f` once per
/// member that is a file, in archive order, as soon as it is read (so the
/// caller can report it at once and keep nothing per member). `stop` is
/// asked before each member: an archive of a million members must not
/// hold up a Ctrl-C.
///
/// `buf` is reused for member data (its capacity stays up to
/// `max_member_bytes`). Single-threaded: members of one archive are read
/// in order, as the format requires for streams.
///
/// # Errors
/// An archive-level problem (damaged central directory, truncated tar,
/// corrupt compressed stream, the total budget or member count exceeded):
/// members already handed to `f` stay valid, the rest are not read.
pub fn visit<R: Read + Seek>(
    kind: ArchiveKind,
    reader: R,
    limits: &ArchiveLimits,
    budget: &Budget,
    buf: &mut Vec<u8>,
    stop: &dyn Fn() -> bool,
    f: &mut dyn FnMut(MemberEvent<'_>),
) -> Result<Ended, ItemError> {
    match kind {
        ArchiveKind::Zip => zipfmt::visit(reader, limits, budget, buf, stop, f),
        _ => tarfmt::visit(kind, reader, limits, budget, buf, stop, f),
    }
}

fn limit(message: String) -> ItemError {
    ItemError::new(ErrorKind::Limit, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn detects_by_content() {
        assert_eq!(detect(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Some(ArchiveKind::TarGz));
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Some(ArchiveKind::TarZst));
        assert_eq!(detect(b"\xfd7zXZ\0..."), Some(ArchiveKind::TarXz));
        let t = tar_of(&[("a.txt", b"hello")]);
        assert_eq!(detect(&t[..512]), Some(ArchiveKind::Tar));
        assert_eq!(detect(b"hello world"), None);
        assert_eq!(detect(&[0u8; 512]), None);
    }

    #[test]
    fn old_style_tar_header_is_recognised_by_checksum() {
        let mut h = tar::Header::new_old();
        h.set_path("x").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(is_tar_header(h.as_bytes()));
        let mut bad = h.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!is_tar_header(&bad));
    }

    #[test]
    fn member_count_is_shared_by_nested_archives() {
        let limits = ArchiveLimits {
            max_members: 3,
            ..Default::default()
        };
        let budget = Budget::new(&limits);
        let t = tar_of(&[("a", b"1"), ("b", b"2")]);
        let mut seen = 0;
        let mut count = |_: MemberEvent<'_>| seen += 1;
        let first = visit(
            ArchiveKind::Tar,
            std::io::Cursor::new(&t),
            &limits,
            &budget,
            &mut Vec::new(),
            &|| false,
            &mut count,
        );
        assert!(first.is_ok());
        let second = visit(
            ArchiveKind::Tar,
            std::io::Cursor::new(&t),
            &limits,
            &budget,
            &mut Vec::new(),
            &|| false,
            &mut count,
        );
        assert_eq!(second.unwrap_err().kind, ErrorKind::Limit);
        assert_eq!(seen, 3);
    }

    #[test]
    fn gzip_of_non_tar_is_not_a_tar_stream() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"just a text file").unwrap();
        let gz = e.finish().unwrap();
        assert!(!is_tar_stream(ArchiveKind::TarGz, &gz[..]));
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar_of(&[("a", b"b")])).unwrap();
        let gz = e.finish().unwrap();
        assert!(is_tar_stream(ArchiveKind::TarGz, &gz[..]));
    }
}
