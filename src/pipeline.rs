//! Run a function over a stream of items on a worker pool, handing the
//! results to one sink in input order.
//!
//! Items are numbered as they are produced; workers (rayon) finish them in
//! any order; a single writer thread puts them back in order and owns the
//! output. At most `window` items are in flight or waiting to be written,
//! so memory is bounded by the number of workers, not by the input size.

use crate::hashing::Worker;
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::new());
}

/// Why the pool could not run.
#[derive(Debug, thiserror::Error)]
#[error("could not start the worker pool: {0}")]
pub struct PoolError(#[from] rayon::ThreadPoolBuildError);

/// Apply `work` to every item on `threads` workers (0 = one per core),
/// calling `sink` with each result in input order from a single thread.
/// Each worker thread has its own [`Worker`] scratch.
pub fn run_ordered<I, T, W, S>(
    items: impl Iterator<Item = I>,
    threads: usize,
    work: W,
    mut sink: S,
) -> Result<(), PoolError>
where
    I: Send,
    T: Send,
    W: Fn(I, &mut Worker) -> T + Sync,
    S: FnMut(T) + Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("hashsieve-worker-{i}"))
        .build()?;
    let window = 4 * pool.current_num_threads() + 16;
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(window);
    for _ in 0..window {
        // The channel has room for exactly `window` permits.
        let _ = permit_tx.send(());
    }
    let (result_tx, result_rx) = crossbeam_channel::unbounded::<(u64, T)>();
    let work = &work;
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut next = 0u64;
            let mut pending = BTreeMap::new();
            for (i, t) in result_rx {
                pending.insert(i, t);
                while let Some(t) = pending.remove(&next) {
                    sink(t);
                    next += 1;
                    let _ = permit_tx.send(());
                }
            }
        });
        pool.in_place_scope(|s| {
            for (i, item) in items.enumerate() {
                if permit_rx.recv().is_err() {
                    break;
                }
                let tx = result_tx.clone();
                s.spawn(move |_| {
                    let t = WORKER.with(|w| work(item, &mut w.borrow_mut()));
                    let _ = tx.send((i as u64, t));
                });
            }
        });
        drop(result_tx);
        let _ = writer.join();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        let mut out = Vec::new();
        run_ordered(
            0..500u64,
            3,
            |i, _w| {
                // Uneven work so completion order differs from input order.
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                i * 2
            },
            |v| out.push(v),
        )
        .unwrap();
        assert_eq!(out, (0..500u64).map(|i| i * 2).collect::<Vec<_>>());
    }
}
