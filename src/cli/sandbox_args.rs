//! The decoder sandbox's flags, shared by `scan` and `serve`.

use hashsieve::sandbox::{SandboxConfig, DEFAULT_MEMORY_MIB};
use hashsieve::video::VideoOptions;

/// Where media are decoded: sandboxed worker processes by default.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Decode in this process instead of in sandboxed worker processes. A
    /// crash or abort in a decoder (FFmpeg is C) then ends the whole run,
    /// and decoders run with this process's rights. For debugging and for
    /// systems without seccomp.
    #[arg(long)]
    pub no_sandbox: bool,

    /// Memory of one decoder worker process, MiB (RLIMIT_DATA; a file
    /// whose decoding needs more gets a `crash` error).
    #[arg(long, default_value_t = DEFAULT_MEMORY_MIB, value_name = "MIB")]
    pub sandbox_memory_mib: u64,

    /// CPU seconds one file may use in its decoder worker, all threads
    /// together (RLIMIT_CPU; over it: a `crash` error). 0 = the video
    /// timeout (600 s when off) times the number of cores.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub sandbox_cpu_secs: u64,

    /// Wall-clock seconds one file may take in its decoder worker before
    /// the worker is killed (a `timeout` error). 0 = the video timeout
    /// plus 30 s (none when --video-timeout is 0).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub sandbox_timeout_secs: u64,
}

impl SandboxArgs {
    /// The sandbox's limits, or `None` with --no-sandbox.
    pub fn to_config(&self, video: &VideoOptions) -> anyhow::Result<Option<SandboxConfig>> {
        if self.no_sandbox {
            return Ok(None);
        }
        anyhow::ensure!(
            self.sandbox_memory_mib >= 64,
            "--sandbox-memory-mib must be at least 64"
        );
        let mut cfg = SandboxConfig::defaults(video.timeout);
        cfg.memory_mib = self.sandbox_memory_mib;
        if self.sandbox_cpu_secs > 0 {
            cfg.cpu_seconds = self.sandbox_cpu_secs;
        }
        if self.sandbox_timeout_secs > 0 {
            cfg.timeout = Some(std::time::Duration::from_secs(self.sandbox_timeout_secs));
        }
        Ok(Some(cfg))
    }
}
