//! `--views` of the commands that describe files (`hash`, `compare`): one
//! definition, so their default and parsing cannot drift apart. The
//! commands that match (`scan`, `match --file`, `serve`) default to `all`
//! instead, each with its own help (what is matched and how records name
//! the view).

use hashsieve::views::ViewSet;

#[derive(clap::Args)]
pub struct DescribeViews {
    /// Query-side views, besides the hash of record (which is unchanged):
    /// `none`, `dihedral` (rotations, flips, EXIF upright) or `all` (also
    /// trimmed borders, caption bands and the main picture of a canvas;
    /// for a video, `letterbox`: the bars found over all its sampled
    /// frames, trimmed). `hash` prints them ("views": [{"view", "hash",
    /// "quality"}] on an image line and on each video frame item);
    /// `compare` also compares A's views with B and names the view that
    /// matched. Default `none`, as for every command that describes files;
    /// the commands that match (`scan`, `match --file`, `serve`) default to
    /// `all`. `--views` alone, last, means `all`.
    #[arg(
        long,
        value_name = "SET",
        num_args = 0..=1,
        default_missing_value = "all",
        default_value = "none"
    )]
    pub views: ViewSet,
}
