//! The `--vpdq-*` flags of `scan` and `match`: run-wide overrides of every
//! list's video rules (each list carries its own, set with `db
//! list-create/list-update`).

use hashdb::vpdq::VpdqRuleOverride;

#[derive(clap::Args, Debug, Clone)]
pub struct VideoRuleArgs {
    /// Override, for this run, every list's vPDQ rule: a listed video
    /// matches when at least this % of its unique frames are in ours.
    /// Default: each list's own value (`db list-create/list-update
    /// --vpdq-target-percent`, 80 unless set).
    #[arg(long, value_name = "PERCENT")]
    pub vpdq_target_percent: Option<f64>,

    /// Override every list's clip rule: ... or when at least this % of our
    /// unique frames are in it ... (default: each list's own, 80 unless set).
    #[arg(long, value_name = "PERCENT")]
    pub vpdq_query_percent: Option<f64>,

    /// Override every list's clip rule: ... and at least this many of them
    /// (default: each list's own, 3 unless set; 5 for lists created before
    /// issue 16).
    #[arg(long, value_name = "FRAMES")]
    pub min_clip_frames: Option<u32>,
}

impl VideoRuleArgs {
    /// The overrides, checked (percentages within 0..=100).
    pub fn to_override(&self) -> anyhow::Result<VpdqRuleOverride> {
        for (name, v) in [
            ("--vpdq-target-percent", self.vpdq_target_percent),
            ("--vpdq-query-percent", self.vpdq_query_percent),
        ] {
            if let Some(v) = v {
                anyhow::ensure!((0.0..=100.0).contains(&v), "{name} must be within 0..=100");
            }
        }
        Ok(VpdqRuleOverride {
            target_percent: self.vpdq_target_percent,
            query_percent: self.vpdq_query_percent,
            min_clip_frames: self.min_clip_frames,
        })
    }
}
