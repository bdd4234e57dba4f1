//! Video flags shared by the commands that hash media (`hash`, `scan`,
//! `db add`, `compare`). (The video helper fills this in: issue 3.)

use hashsieve::video::VideoOptions;

/// Video sampling and limits.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct VideoArgs {}

impl VideoArgs {
    /// The library's options for these flags.
    pub fn to_options(&self) -> anyhow::Result<VideoOptions> {
        Ok(VideoOptions::default())
    }
}
