//! The flags that decide how `scan` and `hashsieve worker` read and hash
//! one file (archive limits, views, image and video limits, the sandbox):
//! one definition, so a queued run's records are made exactly as a local
//! scan's and a flag added to one cannot be missing from the other.

use hashsieve::archive::ArchiveLimits;
use hashsieve::hashing::HashConfig;
use hashsieve::sandbox::SandboxConfig;

#[derive(clap::Args)]
pub struct FileScanArgs {
    /// Archives nested deeper than this are not opened (their own hashes
    /// are still reported, with a `limit` error). 0 = never open archives.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_depth: u32,

    /// Largest archive member read into memory to decode, in MiB (larger
    /// members get their cryptographic hashes and a `limit` error).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub max_member_mib: u64,

    /// Refuse members (and compressed streams) expanding more than this
    /// ratio once past 1 MiB: zip bombs.
    #[arg(long, default_value_t = 100, value_name = "RATIO")]
    pub max_ratio: u64,

    /// Total decompressed bytes one archive may produce, nested archives
    /// included, in GiB.
    #[arg(long, default_value_t = 64, value_name = "GIB")]
    pub max_archive_gib: u64,

    /// Query-side views of images and videos matched besides the hash of
    /// record: `all` (rotations, flips, EXIF upright, trimmed borders,
    /// caption bands, the main picture of a screenshot; a video's
    /// letterbox bars found over its frames, trimmed), `dihedral`
    /// (rotations and flips only) or `none`. A video's views are matched
    /// as vPDQ queries of their own after the original. Match records name
    /// the view that hit.
    #[arg(long, value_name = "SET", default_value = "all")]
    pub views: hashsieve::views::ViewSet,

    #[command(flatten)]
    pub limits: super::limits_args::ImageLimitArgs,

    #[command(flatten)]
    pub video: super::video_args::VideoArgs,

    #[command(flatten)]
    pub sandbox: super::sandbox_args::SandboxArgs,
}

impl FileScanArgs {
    /// How one file is hashed, how archives are read, and the sandbox.
    pub fn to_config(&self) -> anyhow::Result<(HashConfig, ArchiveLimits, Option<SandboxConfig>)> {
        let (image_limits, max_image_bytes) = self.limits.to_limits()?;
        anyhow::ensure!(self.max_ratio >= 1, "--max-ratio must be at least 1");
        let video = self.video.to_options()?;
        let sandbox = self.sandbox.to_config(&video)?;
        let hash = HashConfig {
            image_limits,
            max_image_bytes,
            dihedral: false,
            views: self.views,
            video,
        };
        let archives = ArchiveLimits {
            max_depth: self.max_depth,
            max_member_bytes: self.max_member_mib << 20,
            max_ratio: self.max_ratio,
            max_total_bytes: self.max_archive_gib << 30,
            ..ArchiveLimits::default()
        };
        Ok((hash, archives, sandbox))
    }
}
