//! Image decoder limits shared by the commands that hash media (`hash`,
//! `scan`), so the flags and their defaults are defined once.

use hashsieve::media::image::ImageLimits;

/// Image decoding limits.
#[derive(clap::Args, Debug, Clone)]
pub struct ImageLimitArgs {
    /// Refuse images with more pixels than this (checked on the header,
    /// before decoding).
    #[arg(long, default_value_t = 100_000_000, value_name = "PIXELS")]
    pub max_pixels: u64,

    /// Maximum memory decoding one image may take, in MiB: its pixel
    /// buffers (width x height x channels x bytes per sample, from the
    /// header, before decoding; over it: a `limit` error) and what the
    /// decoder allocates besides.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub max_decoder_mib: u64,

    /// Largest image file read into memory for decoding, in MiB (larger
    /// files still get their cryptographic hashes, and a `limit` error).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub max_image_mib: u64,
}

impl ImageLimitArgs {
    /// The decoder limits and the largest image size in bytes.
    pub fn to_limits(&self) -> anyhow::Result<(ImageLimits, u64)> {
        anyhow::ensure!(self.max_pixels > 0, "--max-pixels must be positive");
        anyhow::ensure!(
            self.max_decoder_mib > 0,
            "--max-decoder-mib must be positive"
        );
        Ok((
            ImageLimits {
                max_pixels: self.max_pixels,
                max_alloc: self.max_decoder_mib << 20,
            },
            self.max_image_mib << 20,
        ))
    }
}
