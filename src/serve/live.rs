//! Live list updates: every `interval` (and at once after a write through
//! the API) ask the store what changed since the last look and apply it to
//! the in-memory matcher in place: new entries are added, disabled or
//! disputed ones removed, with no rebuild. Changes of list settings
//! (enable, disable, threshold, delete) or of the allowlist rebuild the
//! matcher in the background and swap it in; lookups go on meanwhile.
//! Writes by other processes (`hashsieve db import`) are seen the same way:
//! the database is the only channel.
//!
//! On PostgreSQL a listener thread (`LISTEN hashsieve_changes`, see
//! `hashdb::store::pg::listen`) wakes the poller as soon as any process
//! commits a change, so other servers match it well within a second
//! instead of at the next interval; the interval still runs (a
//! notification is only "look now": the change log is the truth). A lost
//! connection is reopened at the next look and reads on from its cursor
//! (catch-up from the log, no rebuild); the listener reconnects with a
//! backoff and wakes the poller once connected, for whatever was announced
//! while it was away.
//!
//! Lookups and changes share the matcher behind a read-write lock. What a
//! change needs only a shared reference for (finding the slots to
//! tombstone, growing vectors ahead, a compaction of the PDQ index) is done
//! under the read lock, lookups going on; the write lock is held for
//! [`APPLY_SLICE`] changes at a time. `/metrics` times every hold
//! (`hashsieve_index_write_lock_hold_seconds`) and every lookup that found
//! the lock taken (`hashsieve_index_read_lock_wait_seconds`).

use std::sync::Arc;
use std::time::Duration;

use crate::matching::RecordMatcher;
use hashdb::store::pg::listen::{Listener, Wake};
use hashdb::store::{ChangeCursor, DbTarget, Store};

use super::error::ApiError;
use super::state::{load_tokens, AppState};

/// More changed entries than this in one poll: rebuild instead.
const MAX_DELTA: usize = 50_000;

/// The poller's own connection and where it stopped.
pub struct Poller {
    pub store: Store,
    pub cursor: ChangeCursor,
}

enum Outcome {
    Delta(Vec<hashdb::model::Entry>, bool),
    Rebuilt(Box<RecordMatcher>),
    Nothing,
}

/// One poll, on a blocking thread.
fn poll_once(st: &AppState, p: &mut Poller) -> Result<Outcome, ApiError> {
    let ch = p.store.changes_since(&p.cursor, MAX_DELTA)?;
    // Token uses first (the reload below starts their counters afresh);
    // a failed write loses only a `last_used_at`, never a poll.
    let uses = st.token_uses();
    if !uses.is_empty() && p.store.record_token_use(&uses).is_err() {
        st.metrics.live_errors.inc();
    }
    st.set_tokens(load_tokens(&p.store)?, p.store.has_any_token()?)?;
    if ch.rebuild {
        let store = Store::open_with(&st.db, st.open)
            .map_err(|e| ApiError::internal(format!("reopening the database: {e}")))?;
        let m = RecordMatcher::load(store, &st.match_cfg)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        p.cursor = ch.next;
        return Ok(Outcome::Rebuilt(Box::new(m)));
    }
    p.cursor = ch.next;
    if ch.entries.is_empty() && !ch.touched {
        return Ok(Outcome::Nothing);
    }
    Ok(Outcome::Delta(ch.entries, ch.touched))
}

/// How long the poller tries to take the write lock without queueing
/// before it waits in line like any writer.
const POLITE_WRITE: Duration = Duration::from_secs(2);

/// The matcher's write lock, taken without making readers wait: std's
/// `RwLock` queues new readers behind a waiting writer, so a writer
/// waiting out one long match (a 100,000-frame vPDQ query) would stall
/// every lookup behind it. Retry `try_write` for a while first; only a
/// service never free of readers for [`POLITE_WRITE`] makes us queue.
fn write_politely(st: &AppState) -> Option<std::sync::RwLockWriteGuard<'_, RecordMatcher>> {
    let deadline = std::time::Instant::now() + POLITE_WRITE;
    let mut pause = Duration::from_micros(50);
    loop {
        match st.matcher.try_write() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(_)) => return None,
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        if std::time::Instant::now() >= deadline {
            return st.matcher.write().ok();
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Apply one poll's outcome; false when the matcher's lock is poisoned (a
/// panic while it was being changed) and a delta cannot be trusted to it.
fn apply(st: &AppState, out: Outcome) -> bool {
    match out {
        Outcome::Nothing => !st.matcher.is_poisoned(),
        Outcome::Rebuilt(m) => {
            // A whole new matcher is good whatever the old one's state.
            let mut g = match write_politely(st) {
                Some(g) => g,
                None => {
                    let g = st
                        .matcher
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    st.matcher.clear_poison();
                    g
                }
            };
            let held = std::time::Instant::now();
            let old = std::mem::replace(&mut *g, *m);
            st.metrics
                .index_pdq_hashes
                .set(g.matcher().pdq_len() as i64);
            drop(g);
            st.metrics.observe_write_hold(held.elapsed());
            // Freeing a large index takes a while: not under the lock.
            drop(old);
            st.metrics.live_rebuilds.inc();
            true
        }
        Outcome::Delta(entries, _touched) => {
            for slice in entries.chunks(APPLY_SLICE) {
                // What can be worked out from a shared reference (the
                // slots to tombstone, vectors grown ahead) is, under the
                // read lock: lookups go on meanwhile. This thread is the
                // matcher's only writer, so nothing changes before the
                // write lock below; the plan's stamp checks it anyway.
                let plan = match st.matcher.read() {
                    Ok(g) => g.matcher().plan_changes(slice),
                    Err(_) => return false,
                };
                let Some(mut g) = write_politely(st) else {
                    return false;
                };
                let held = std::time::Instant::now();
                let retired = g.matcher_mut().apply_changes(slice, plan);
                let n = g.matcher().pdq_len();
                let compact = g.matcher().pdq_needs_compaction();
                drop(g);
                st.metrics.observe_write_hold(held.elapsed());
                drop(retired);
                st.metrics.index_pdq_hashes.set(n as i64);
                if compact && !compact_pdq(st) {
                    return false;
                }
            }
            st.metrics.live_updates.inc_by(entries.len() as u64);
            true
        }
    }
}

/// Changed entries applied per hold of the write lock: lookups wait for
/// at most one slice (tens of microseconds), not a whole poll's worth.
/// A lookup between two slices may see part of a poll's changes, as it
/// could already see one poll's changes before the next poll's.
const APPLY_SLICE: usize = 16;

/// Rebuild the PDQ index's static tables (its delta or tombstones grew
/// past a quarter) under the read lock, lookups going on, and swap the new
/// index in; false when the matcher's lock is poisoned.
fn compact_pdq(st: &AppState) -> bool {
    let (stamp, fresh) = match st.matcher.read() {
        Ok(g) => g.matcher().pdq_compacted(),
        Err(_) => return false,
    };
    let Some(mut g) = write_politely(st) else {
        return false;
    };
    let held = std::time::Instant::now();
    // Stale only if another writer changed the matcher meanwhile (there is
    // none): then it stays as it is, compacted at a later poll.
    let old = g.matcher_mut().replace_pdq(stamp, fresh);
    drop(g);
    st.metrics.observe_write_hold(held.elapsed());
    // The old (or unused) index is freed here, not under the lock.
    drop(old);
    true
}

/// Poll until `shutdown` fires. A failed poll, a panic in one, or a
/// database that cannot be reopened is counted (`live_update_errors`) and
/// retried at the next interval: the poller never stops on its own, and
/// `/readyz` and `/metrics` show how long ago it last caught up.
pub async fn run(
    st: Arc<AppState>,
    poller: Poller,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut poller = Some(poller);
    st.mark_synced(std::time::Instant::now());
    let _listener = listen(st.clone(), shutdown.clone());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = st.poke.notified() => {}
            _ = shutdown.changed() => return,
        }
        let p = match poller.take() {
            Some(p) if !p.store.is_closed() => p,
            // The server went away and came back (PostgreSQL): a new
            // connection reads on from the cursor, no rebuild.
            Some(p) => match Store::open_with(&st.db, st.open) {
                Ok(store) => Poller {
                    store,
                    cursor: p.cursor,
                },
                Err(_) => {
                    st.metrics.live_errors.inc();
                    poller = Some(p);
                    continue;
                }
            },
            // The poll panicked and took the connection and the cursor
            // with it: reopen, and rebuild from scratch.
            None => match Store::open_with(&st.db, st.open) {
                Ok(store) => Poller {
                    store,
                    cursor: ChangeCursor::default(),
                },
                Err(_) => {
                    st.metrics.live_errors.inc();
                    continue;
                }
            },
        };
        let s = st.clone();
        // What this poll reads was committed by now at the latest.
        let polled_at = std::time::Instant::now();
        let res = tokio::task::spawn_blocking(move || {
            let mut p = p;
            let out = poll_once(&s, &mut p);
            (p, out)
        })
        .await;
        match res {
            Ok((mut p, Ok(o))) => {
                let s = st.clone();
                // Applying takes the write lock: keep it off the executor.
                let applied = tokio::task::spawn_blocking(move || apply(&s, o)).await;
                if matches!(applied, Ok(true)) {
                    st.mark_synced(polled_at);
                } else {
                    // A poisoned matcher: the next poll rebuilds it whole.
                    st.metrics.live_errors.inc();
                    p.cursor = ChangeCursor::default();
                }
                poller = Some(p);
            }
            Ok((p, Err(_))) => {
                st.metrics.live_errors.inc();
                poller = Some(p);
            }
            // The poll panicked and took the connection with it.
            Err(_) => {
                st.metrics.live_errors.inc();
            }
        }
    }
}

/// How long the listener waits between checks of its connection and of
/// the shutdown flag.
const LISTEN_TICK: Duration = Duration::from_millis(500);
/// The longest pause between attempts to reconnect the listener.
const LISTEN_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// On PostgreSQL, a thread that wakes the poller at every change committed
/// by any process (see the module docs); `None` on SQLite, where the
/// interval is the only clock. The thread ends at shutdown.
fn listen(
    st: Arc<AppState>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<std::thread::JoinHandle<()>> {
    let DbTarget::Postgres(url) = DbTarget::parse(&st.db) else {
        return None;
    };
    let stopping = move || *shutdown.borrow();
    std::thread::Builder::new()
        .name("hashsieve-listen".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(100);
            while !stopping() {
                let mut l = match Listener::connect(&url, &st.open) {
                    Ok(l) => l,
                    Err(_) => {
                        st.metrics.live_errors.inc();
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(LISTEN_MAX_BACKOFF);
                        continue;
                    }
                };
                backoff = Duration::from_millis(100);
                // Whatever was announced while we were not listening.
                st.poke.notify_one();
                while !stopping() {
                    match l.wait(LISTEN_TICK) {
                        Ok(Wake::Changed) => st.poke.notify_one(),
                        Ok(Wake::Timeout) => {}
                        Err(_) => {
                            st.metrics.live_errors.inc();
                            break;
                        }
                    }
                }
            }
        })
        .ok()
}
