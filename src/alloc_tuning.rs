//! Keep the C allocator from handing big buffers back to the kernel after
//! every image.
//!
//! Decoders allocate their working buffers per image (a progressive JPEG's
//! coefficients are tens of megabytes). With glibc's defaults, buffers above
//! its dynamic mmap threshold are mapped and unmapped for each image, and
//! freed heap tops are trimmed, so every image pays page faults and kernel
//! zeroing for memory the previous image just released (about 6% of the CPU
//! time of hashing a folder of wallpaper JPEGs, measured with `perf stat`).
//! Raising the mmap threshold to its maximum (32 MiB) and the trim
//! threshold keeps that memory in each worker's arena for reuse. Peak memory
//! does not grow: it is still one image's working set per worker.

/// Apply the tuning; call once, first thing in `main`, before any thread
/// starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's upper bound for M_MMAP_THRESHOLD on 64-bit systems.
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only sets allocator parameters; called before any
        // other thread exists. A refusal (return 0) just leaves the default.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
