//! Progress reporting without printing: long jobs call a [`Progress`]
//! implementation they were given.
//!
//! The library never prints, yet a scan of millions of files must show that
//! it moves. So the scan reports events to this small trait: the CLI draws
//! a bar on a terminal, the service exposes counters, tests and quiet runs
//! use [`NullProgress`]. Implementations are called from many threads at
//! once and must be cheap (an atomic add, not a redraw per call).

/// Receiver of progress events. All methods have empty defaults.
pub trait Progress: Send + Sync {
    /// The walk found one more input file of `bytes` bytes.
    fn found(&self, _bytes: u64) {}
    /// The walk is over: every input has been counted (ETA becomes known).
    fn walk_done(&self) {}
    /// An input file (with everything inside it, for an archive) is done.
    /// `bytes` is its size on disk; `records`, `matches` and `errors` count
    /// what it produced (an archive produces one record per member).
    fn file_done(&self, _bytes: u64, _records: u64, _matches: u64, _errors: u64) {}
    /// The job is over (finished or stopped).
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullProgress;

impl Progress for NullProgress {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Count(AtomicU64);
    impl Progress for Count {
        fn file_done(&self, bytes: u64, _r: u64, _m: u64, _e: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    #[test]
    fn null_object_and_overrides() {
        let p: &dyn Progress = &NullProgress;
        p.found(1);
        p.file_done(1, 1, 0, 0);
        let c = Count(AtomicU64::new(0));
        let p: &dyn Progress = &c;
        p.file_done(5, 1, 0, 0);
        p.walk_done();
        assert_eq!(c.0.load(Ordering::Relaxed), 5);
    }
}
