//! `hashsieve hash PATH...`: one JSON line per file, in input order.

use anyhow::Context;
use hashsieve::hashing::{hash_path, HashConfig};
use hashsieve::pipeline::run_ordered;
use hashsieve::record::FileRecord;
use hashsieve::walk::{walk, WalkItem, WalkOptions};
use std::io::Write;
use std::path::PathBuf;

/// Hash files and folders: MD5, SHA-256 and BLAKE3 of every file (one read),
/// PDQ of images (bit-exact with Meta's reference), vPDQ frame hashes of
/// videos.
///
/// Output: JSON Lines on stdout, one object per file, in input order:
/// {"path", "media": "image"|"video"|"other", "bytes", "md5", "sha256",
/// "blake3", "width", "height", "orientation", "pdq": [{"hash", "quality"}],
/// "error": null | {"kind": "io|decode|limit|unsupported|timeout", "message"}}.
/// Videos add "duration", "frame_rate", and "frame"/"timestamp" per pdq item.
/// Paths that are not UTF-8 add "path_raw_hex" (the exact bytes).
///
/// Media type is sniffed from content, never from the extension. The PDQ of
/// record does not apply EXIF orientation (that is how shared lists were
/// made); "orientation" reports it.
///
/// Exit code: 0 when every file was hashed, 2 when any file had an error
/// (the others are still printed) or the arguments were bad.
#[derive(clap::Args)]
pub struct HashArgs {
    /// Files or folders (folders are walked recursively, in name order).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Worker threads (0 = one per core). `--threads 1` hashes on one thread.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Add the eight dihedral PDQ hashes (rotations and flips) of images, as
    /// "dihedral": {"original", "rotate90", "rotate180", "rotate270", "flipx",
    /// "flipy", "flipplus1", "flipminus1"}.
    #[arg(long)]
    pub dihedral: bool,

    /// Query-side views, printed as "views": [{"view", "hash", "quality"},
    /// ...] on the image line, and for a video on each `pdq` frame item:
    /// `dihedral` (rotations, flips, EXIF upright) or `all` (also trimmed
    /// borders and the main picture of a canvas; for a video, `letterbox`:
    /// the bars found over all its sampled frames, trimmed). The hash of
    /// record is unchanged. `--views` alone means `all`; `--views=dihedral`
    /// picks a set.
    #[arg(
        long,
        value_name = "SET",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all",
        default_value = "none"
    )]
    pub views: hashsieve::views::ViewSet,

    #[command(flatten)]
    pub limits: super::limits_args::ImageLimitArgs,

    /// Do not follow symbolic links inside folders.
    #[arg(long)]
    pub no_follow: bool,

    #[command(flatten)]
    pub video: super::video_args::VideoArgs,

    /// Output format: `jsonl` (one JSON object per file) or `vpdq` (the
    /// reference's `frame,quality,hash,timestamp` lines of each video, for
    /// diffing with and exchanging with Meta's tools; other files and
    /// errors are reported on stderr).
    #[arg(long, value_enum, default_value_t = super::video_args::OutputFormat::Jsonl)]
    pub format: super::video_args::OutputFormat,
}

impl HashArgs {
    fn config(&self) -> anyhow::Result<HashConfig> {
        let (image_limits, max_image_bytes) = self.limits.to_limits()?;
        Ok(HashConfig {
            image_limits,
            max_image_bytes,
            dihedral: self.dihedral,
            views: self.views,
            video: self.video.to_options()?,
        })
    }
}

pub fn run(args: HashArgs) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let walk_opts = WalkOptions {
        follow_links: !args.no_follow,
    };
    // The writer thread owns stdout; `Stdout` (unlike its lock) can move there.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut errors = 0u64;
    let mut write_err: Option<std::io::Error> = None;
    run_ordered(
        walk(&args.paths, &walk_opts),
        args.threads,
        |item, worker| match item {
            WalkItem::File(p) => hash_path(&p, &cfg, worker),
            WalkItem::Failed(p, e) => FileRecord::failed(&p, e),
        },
        |rec: FileRecord| {
            if rec.error.is_some() {
                errors += 1;
            }
            if write_err.is_none() {
                if let Err(e) = out.write_all(args.format.render(&rec).as_bytes()) {
                    write_err = Some(e);
                }
            }
        },
    )?;
    if let Some(e) = write_err {
        // A closed pipe (`| head`) is not an error of ours.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing output");
        }
        return Ok(if errors > 0 { 2 } else { 0 });
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing output");
        }
    }
    Ok(if errors > 0 { 2 } else { 0 })
}
