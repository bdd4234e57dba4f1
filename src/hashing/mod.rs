//! Hashing one item: read it once, digest every byte, sniff, decode, PDQ.
//!
//! The cryptographic digests advance on the same buffers that go to the
//! decoder, so each file is read from disk once. Every readable item gets
//! its digests, whether or not it decodes; every item gets exactly one
//! [`FileRecord`], with an error when something went wrong.
//!
//! Threading: [`hash_path`] and [`hash_bytes`] are pure functions of their
//! input plus a per-thread [`Worker`] (scratch buffers); run them on as many
//! threads as you like, one `Worker` each.

pub mod crypto;
pub mod reader;

use crate::error::{ErrorKind, ItemError};
use crate::media::image::{decode_rgb_reusing, ImageLimits};
use crate::media::{sniff, sniff::SNIFF_LEN, ImageFormat, MediaKind};
use crate::pdq::{LumaRule, PdqHasher, Rgb8};
use crate::record::{DihedralHashes, FileRecord, PdqItem};
use crypto::MultiDigest;
use reader::HashingReader;
use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

/// What to compute for each item and under which limits.
#[derive(Debug, Clone)]
pub struct HashConfig {
    /// Decoder limits for still images.
    pub image_limits: ImageLimits,
    /// Largest image file we read into memory to decode (bytes). Larger
    /// files still get their digests, and a `limit` error.
    pub max_image_bytes: u64,
    /// Also compute the eight dihedral hashes of images.
    pub dihedral: bool,
    /// Query-side views of images (see [`crate::views`]); `None` by
    /// default, so `hash` output is unchanged unless asked for.
    pub views: crate::views::ViewSet,
    /// Video sampling and limits.
    pub video: crate::video::VideoOptions,
}

impl Default for HashConfig {
    fn default() -> Self {
        HashConfig {
            image_limits: ImageLimits::default(),
            max_image_bytes: 256 << 20,
            dihedral: false,
            views: crate::views::ViewSet::None,
            video: crate::video::VideoOptions::default(),
        }
    }
}

/// Per-thread scratch: a PDQ hasher and a read buffer.
pub struct Worker {
    pub pdq: PdqHasher,
    buf: Vec<u8>,
    /// Decoded pixels, reused from image to image.
    rgb: Vec<u8>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            pdq: PdqHasher::new(),
            buf: vec![0; 1 << 20],
            rgb: Vec::new(),
        }
    }
}

impl Worker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The decoded pixels of the still image `rec`, the record this worker
    /// has just returned (packed RGB as hashed: EXIF orientation not
    /// applied). `None` unless `rec` is an image hashed without error.
    /// List-side enrollment (`db add --derive`) hashes its crops and turns
    /// from them instead of reading and decoding the file again.
    pub fn decoded_image(&self, rec: &FileRecord) -> Option<crate::views::RgbView<'_>> {
        if rec.media != crate::record::Media::Image || rec.error.is_some() || rec.pdq.is_empty() {
            return None;
        }
        let (w, h) = (rec.width? as usize, rec.height? as usize);
        let len = w.checked_mul(h)?.checked_mul(3)?;
        self.rgb
            .get(..len)
            .map(|data| crate::views::RgbView::packed(data, w, h))
    }
}

/// Open `path` for hashing without ever blocking on a fifo or device: the
/// open is non-blocking and anything but a regular file is refused.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), ItemError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ItemError::io("open", &e))?;
    let meta = file.metadata().map_err(|e| ItemError::io("stat", &e))?;
    if !meta.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        let what = if ft.is_fifo() {
            "a fifo"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "a device"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(ItemError::new(ErrorKind::Io, format!("skipped: {what}")));
    }
    Ok((file, meta.len()))
}

/// Hash the file at `path`. Never fails: problems are in the record.
pub fn hash_path(path: &Path, cfg: &HashConfig, worker: &mut Worker) -> FileRecord {
    let mut rec = FileRecord::new(path);
    match open_regular(path) {
        Ok((file, _len)) => hash_stream(file, &mut rec, cfg, worker),
        Err(e) => rec.error = Some(e),
    }
    rec
}

/// Hash the open file `file` from its first byte, recorded under `path`
/// (the sandboxed worker's entry: the parent opens, the worker reads).
pub fn hash_file(path: &Path, mut file: File, cfg: &HashConfig, worker: &mut Worker) -> FileRecord {
    let mut rec = FileRecord::new(path);
    match file.seek(std::io::SeekFrom::Start(0)) {
        Ok(_) => hash_stream(file, &mut rec, cfg, worker),
        Err(e) => rec.error = Some(ItemError::io("seek", &e)),
    }
    rec
}

/// Hash an item held in memory (an archive member, an upload), recorded
/// under the name `path`.
pub fn hash_bytes(path: &Path, data: &[u8], cfg: &HashConfig, worker: &mut Worker) -> FileRecord {
    let mut rec = FileRecord::new(path);
    hash_stream(Cursor::new(data), &mut rec, cfg, worker);
    rec
}

/// Read up to `SNIFF_LEN` bytes (fewer only at end of stream).
fn read_head<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Digest everything left in `r`.
fn drain<R: Read>(r: &mut R, digest: &mut MultiDigest, buf: &mut [u8]) -> std::io::Result<()> {
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => digest.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn hash_stream<R: Read + Seek>(
    mut r: R,
    rec: &mut FileRecord,
    cfg: &HashConfig,
    worker: &mut Worker,
) {
    let mut head = [0u8; SNIFF_LEN];
    let n = match read_head(&mut r, &mut head) {
        Ok(n) => n,
        Err(e) => {
            rec.error = Some(ItemError::io("read", &e));
            return;
        }
    };
    let head = &head[..n];
    let mut digest = MultiDigest::new();
    digest.update(head);
    let kind = sniff(head);
    rec.media = kind.label();
    match kind {
        MediaKind::Other => {
            let mut buf = std::mem::take(&mut worker.buf);
            let res = drain(&mut r, &mut digest, &mut buf);
            worker.buf = buf;
            finish_digest(rec, digest, res.err());
            if rec.error.is_none() {
                if let Some(claim) = crate::media::sniff::claimed_by_name(&rec.path_os) {
                    let what = if n == 0 {
                        "empty file"
                    } else {
                        "content is not a format we recognise"
                    };
                    rec.error = Some(ItemError::new(
                        ErrorKind::Decode,
                        format!("{what}, although its name says it is an {claim}"),
                    ));
                }
            }
        }
        MediaKind::Image(format) => hash_image_stream(r, head, digest, format, rec, cfg, worker),
        MediaKind::Video => {
            let mut reader = HashingReader::new(r, digest);
            let outcome = crate::video::hash_video_into(
                &mut reader,
                rec,
                &cfg.video,
                cfg.views,
                &mut worker.pdq,
            );
            match reader.finish() {
                Ok((d, len)) => rec.set_digests(&d, len),
                Err(e) => {
                    rec.error.get_or_insert(ItemError::io("read", &e));
                }
            }
            if let Err(e) = outcome {
                rec.error.get_or_insert(e);
            }
        }
    }
}

fn finish_digest(rec: &mut FileRecord, digest: MultiDigest, err: Option<std::io::Error>) {
    match err {
        None => {
            let bytes = digest.bytes();
            rec.set_digests(&digest.finish(), bytes);
        }
        Some(e) => {
            // A read error midway: the digests of a prefix would be
            // misleading, so none are reported.
            rec.bytes = digest.bytes();
            rec.error = Some(ItemError::io("read", &e));
        }
    }
}

fn hash_image_stream<R: Read>(
    mut r: R,
    head: &[u8],
    mut digest: MultiDigest,
    format: ImageFormat,
    rec: &mut FileRecord,
    cfg: &HashConfig,
    worker: &mut Worker,
) {
    let mut data = head.to_vec();
    let mut too_big = false;
    let mut buf = std::mem::take(&mut worker.buf);
    let mut read_err = None;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                digest.update(&buf[..n]);
                if !too_big {
                    if (data.len() + n) as u64 > cfg.max_image_bytes {
                        too_big = true;
                        data = Vec::new();
                    } else {
                        data.extend_from_slice(&buf[..n]);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_err = Some(e);
                break;
            }
        }
    }
    worker.buf = buf;
    finish_digest(rec, digest, read_err);
    if rec.error.is_some() {
        return;
    }
    if too_big {
        rec.error = Some(ItemError::new(
            ErrorKind::Limit,
            format!(
                "image file of {} bytes is over the limit of {} bytes",
                rec.bytes, cfg.max_image_bytes
            ),
        ));
        return;
    }
    if let Err(e) = hash_image_data(&data, format, rec, cfg, worker) {
        rec.error = Some(e);
    }
}

/// Decode and PDQ-hash image bytes into `rec` (dimensions, orientation,
/// the hash of record, and the dihedral hashes when configured).
fn hash_image_data(
    data: &[u8],
    format: ImageFormat,
    rec: &mut FileRecord,
    cfg: &HashConfig,
    worker: &mut Worker,
) -> Result<(), ItemError> {
    let mut reuse = std::mem::take(&mut worker.rgb);
    let img = decode_rgb_reusing(data, format, &cfg.image_limits, &mut reuse)?;
    let result = hash_decoded(&img, rec, cfg, worker);
    worker.rgb = img.rgb;
    result
}

/// PDQ (and views, dihedral) of a decoded image, into `rec`.
fn hash_decoded(
    img: &crate::media::image::RgbImage,
    rec: &mut FileRecord,
    cfg: &HashConfig,
    worker: &mut Worker,
) -> Result<(), ItemError> {
    rec.width = Some(img.width);
    rec.height = Some(img.height);
    rec.orientation = Some(img.orientation);
    let src = Rgb8::new(
        &img.rgb,
        img.width as usize,
        img.height as usize,
        LumaRule::Pillow,
    )
    .map_err(|e| ItemError::new(ErrorKind::Decode, e.to_string()))?;
    // Views share the decode and the downsample of the hash of record.
    let hash = if cfg.views == crate::views::ViewSet::None {
        worker.pdq.hash(&src)
    } else {
        let view = crate::views::RgbView::packed(&img.rgb, img.width as usize, img.height as usize);
        let hashed =
            crate::views::hash_with_views(view, img.orientation, cfg.views, &mut worker.pdq)
                .ok_or_else(|| {
                    ItemError::new(ErrorKind::Decode, "decoded pixel buffer has the wrong size")
                })?;
        rec.views = Some(hashed.views);
        hashed.record
    };
    rec.pdq.push(PdqItem {
        hash: hash.hash,
        quality: hash.quality,
        frame: None,
        timestamp: None,
        views: None,
    });
    if cfg.dihedral {
        let d = worker.pdq.dihedral(&src);
        rec.dihedral = Some(DihedralHashes::from(&d));
    }
    Ok(())
}
