//! `hashsieve hash PATH...`: one JSON line per file, in input order.

use super::video_args::OutputFormat;
use anyhow::Context;
use hashsieve::hashing::{hash_path, HashConfig};
use hashsieve::pipeline::run_ordered;
use hashsieve::record::FileRecord;
use hashsieve::walk::{sorted, Input, WalkOptions};
use std::io::Write;
use std::path::PathBuf;

mod tmk_files;

/// Hash files and folders: MD5, SHA-256 and BLAKE3 of every file (one read),
/// PDQ of images (bit-exact with Meta's reference), vPDQ frame hashes of
/// videos.
///
/// Archives (zip, tar) are hashed as files (their digests, media "other"):
/// `hash` does not read their members; `scan` does (members located as
/// `a.zip!/b.jpg`).
///
/// Output: JSON Lines on stdout, one object per file, in input order:
/// {"path", "media": "image"|"video"|"other", "bytes", "md5", "sha256",
/// "blake3", "width", "height", "orientation", "pdq": [{"hash", "quality"}],
/// "error": null | {"kind": "io|decode|limit|unsupported|timeout|crash", "message"}}.
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

    #[command(flatten)]
    pub views: super::views_args::DescribeViews,

    #[command(flatten)]
    pub limits: super::limits_args::ImageLimitArgs,

    /// Do not follow symbolic links inside folders.
    #[arg(long)]
    pub no_follow: bool,

    #[command(flatten)]
    pub video: super::video_args::VideoArgs,

    /// Output format: `jsonl` (one JSON object per file), `vpdq` (the
    /// reference's `frame,quality,hash,timestamp` lines of each video, for
    /// diffing with and exchanging with Meta's tools; other files and
    /// errors are reported on stderr) or `tmk` (each video's TMK+PDQF
    /// written to `--output-dir` as `<name>.tmk`, `<name>` being the file
    /// name without its extension, in the layout Meta's `tmk-hash-video`
    /// writes; stdout lists the files written, other files and errors go to
    /// stderr).
    #[arg(long, value_enum, default_value_t = super::video_args::OutputFormat::Jsonl)]
    pub format: super::video_args::OutputFormat,

    /// With `--format tmk`: the folder the `.tmk` files go to (created if
    /// missing; a file of the same name is replaced, but two inputs of the
    /// same name in one run are an error for the second).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

impl HashArgs {
    fn config(&self) -> anyhow::Result<HashConfig> {
        let (image_limits, max_image_bytes) = self.limits.to_limits()?;
        Ok(HashConfig {
            image_limits,
            max_image_bytes,
            dihedral: self.dihedral,
            views: self.views.views,
            video: self.video.to_options()?,
        })
    }
}

pub fn run(args: HashArgs) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let mut tmk_out = match (args.format, &args.output_dir) {
        (OutputFormat::Tmk, Some(dir)) => Some(tmk_files::TmkDir::create(dir)?),
        (OutputFormat::Tmk, None) => anyhow::bail!("--format tmk needs --output-dir DIR"),
        (_, Some(_)) => anyhow::bail!("--output-dir goes with --format tmk"),
        (_, None) => None,
    };
    anyhow::ensure!(
        tmk_out.is_none() || (cfg.video.fast.is_none() && cfg.video.tmk),
        "--format tmk needs TMK+PDQF computed from every frame: not with --fast or --no-tmk"
    );
    let walk_opts = WalkOptions {
        follow_links: !args.no_follow,
    };
    // The writer thread owns stdout; `Stdout` (unlike its lock) can move there.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut errors = 0u64;
    let mut write_err: Option<std::io::Error> = None;
    run_ordered(
        sorted(&args.paths, &walk_opts),
        args.threads,
        |item, worker| match item {
            Input::File(k) => hash_path(&k.path, &cfg, worker),
            Input::Failed(p, e) => FileRecord::failed(&p, e),
        },
        |rec: FileRecord| {
            let text = match tmk_out.as_mut() {
                Some(dir) => match dir.write(&rec) {
                    Ok(line) => line,
                    Err(e) => {
                        // Paths and messages in `e` are escaped already.
                        eprintln!("hashsieve: {e}");
                        errors += 1;
                        return;
                    }
                },
                None => args.format.render(&rec),
            };
            if rec.error.is_some() {
                errors += 1;
            }
            if write_err.is_none() {
                if let Err(e) = out.write_all(text.as_bytes()) {
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
