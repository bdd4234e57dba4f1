//! The hashing pool: CPU-bound work off the async executor, at most
//! `max_jobs` at once, at most `queue` more waiting, and a 503 for anything
//! beyond (load shedding: a full queue answers at once instead of letting
//! latency and memory grow without bound).
//!
//! Admission happens once the upload has been read (see `body::upload`,
//! which bounds and paces the reading itself): a slow client holds an
//! upload slot, never a hashing one. Each blocking thread keeps its own
//! hashing [`Worker`] (scratch buffers), as the batch commands do.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::hashing::Worker;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::metrics::Metrics;

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::new());
}

/// Bounded admission plus a semaphore over `spawn_blocking`.
pub struct Jobs {
    sem: Arc<Semaphore>,
    admitted: AtomicUsize,
    limit: usize,
    metrics: Arc<Metrics>,
}

/// A place in the queue (or a running slot); released on drop.
pub struct Ticket {
    jobs: Arc<Jobs>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.jobs.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Jobs {
    pub fn new(max_jobs: usize, queue: usize, metrics: Arc<Metrics>) -> Arc<Jobs> {
        let max_jobs = max_jobs.max(1);
        Arc::new(Jobs {
            sem: Arc::new(Semaphore::new(max_jobs)),
            admitted: AtomicUsize::new(0),
            limit: max_jobs + queue,
            metrics,
        })
    }

    /// Take a place, or a 503 when running + queued is at the limit.
    pub fn admit(self: &Arc<Self>) -> Result<Ticket, ApiError> {
        let prev = self.admitted.fetch_add(1, Ordering::AcqRel);
        if prev >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            self.metrics.jobs_shed.inc();
            return Err(ApiError::overloaded());
        }
        Ok(Ticket { jobs: self.clone() })
    }

    /// Run `f` with this thread's hashing worker, once a slot is free. The
    /// slot is held until `f` returns, even if the request gave up (a
    /// blocking job cannot be cancelled; capacity stays honest).
    pub async fn run<T, F>(&self, ticket: Ticket, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Worker) -> T + Send + 'static,
    {
        self.metrics.jobs_queued.inc();
        let permit = self.sem.clone().acquire_owned().await;
        self.metrics.jobs_queued.dec();
        let permit = permit.map_err(|_| ApiError::internal("hashing pool closed"))?;
        let metrics = self.metrics.clone();
        metrics.jobs_running.inc();
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _ticket = ticket;
            let out = WORKER.with(|w| match w.try_borrow_mut() {
                Ok(mut w) => f(&mut w),
                Err(_) => f(&mut Worker::new()),
            });
            metrics.jobs_running.dec();
            out
        });
        handle
            .await
            .map_err(|e| ApiError::internal(format!("hashing job failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_beyond_running_plus_queue() {
        let jobs = Jobs::new(2, 1, Arc::new(Metrics::default()));
        let a = jobs.admit().unwrap();
        let _b = jobs.admit().unwrap();
        let _c = jobs.admit().unwrap();
        let shed = jobs.admit().err().unwrap();
        assert_eq!(shed.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(a);
        assert!(jobs.admit().is_ok());
    }
}
