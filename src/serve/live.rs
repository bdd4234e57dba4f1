//! Live list updates: every `interval` (and at once after a write through
//! the API) ask the store what changed since the last look and apply it to
//! the in-memory matcher in place, never by loading it again: new entries
//! are added, disabled or disputed ones removed; allowlist additions and
//! removals come from the allowlist's log, value by value; a list
//! disabled or deleted stops being reported at once (its settings leave
//! the matcher in one short hold of the lock) and its entries are removed
//! in slices after; a list enabled or created is shown and only its own
//! entries are read and added in slices; a new threshold, vPDQ rule or TMK
//! threshold is a new setting; a quality gate moved reads that list's
//! entries between the two gates and applies them again. A big import (or
//! mass disable) is read and applied a page of [`PAGE`] entries at a time.
//! Writes by other processes (`hashsieve db import`) are seen the same way:
//! the database is the only channel. The only whole reload left is the
//! recovery from a panic while the matcher was being changed (a poisoned
//! lock), counted by `hashsieve_live_rebuilds`.
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
//! under the read lock, lookups going on; the write lock is held for one
//! slice of changes at a time, as many as fit in [`HOLD_BUDGET`]. `/metrics` times every hold
//! (`hashsieve_index_write_lock_hold_seconds`) and every lookup that found
//! the lock taken (`hashsieve_index_read_lock_wait_seconds`).

use std::sync::Arc;
use std::time::Duration;

use crate::matching::RecordMatcher;
use hashdb::matcher::ListChange;
use hashdb::store::pg::listen::{Listener, Wake};
use hashdb::store::{ChangeCursor, Changes, DbTarget, Store};

use super::error::ApiError;
use super::state::{load_tokens, AppState};

/// Changed entries read and applied per page: a big import is applied a
/// page at a time (bounded memory), each page in slices.
const PAGE: usize = 50_000;

/// The poller's own connection and where it stopped.
pub struct Poller {
    pub store: Store,
    pub cursor: ChangeCursor,
}

enum Outcome {
    Delta(Box<Changes>),
    Rebuilt(Box<RecordMatcher>),
    Nothing,
}

impl Outcome {
    fn more(&self) -> bool {
        matches!(self, Outcome::Delta(ch) if ch.more)
    }
}

/// One poll (a page of changes), on a blocking thread. From the default
/// cursor (a matcher that could not be trusted: see [`run`]) the matcher
/// is loaded whole, from the cursor taken just before.
fn poll_once(st: &AppState, p: &mut Poller, first: bool) -> Result<Outcome, ApiError> {
    if p.cursor == ChangeCursor::default() {
        let cursor = p.store.change_cursor()?;
        let store = Store::open_with(&st.db, st.open)
            .map_err(|e| ApiError::internal(format!("reopening the database: {e}")))?;
        let m = RecordMatcher::load(store, &st.match_cfg)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        p.cursor = cursor;
        return Ok(Outcome::Rebuilt(Box::new(m)));
    }
    let mut ch = p.store.changes_since(&p.cursor, PAGE)?;
    if first {
        // Token uses first (the reload below starts their counters
        // afresh); a failed write loses only a `last_used_at`, never a
        // poll.
        let uses = st.token_uses();
        if !uses.is_empty() && p.store.record_token_use(&uses).is_err() {
            st.metrics.live_errors.inc();
        }
        st.set_tokens(load_tokens(&p.store)?, p.store.has_any_token()?)?;
    }
    // Moved, not copied: it carries the statuses seen in the margin.
    p.cursor = std::mem::take(&mut ch.next);
    if ch.entries.is_empty() && ch.lists.is_none() && ch.allow.is_empty() && !ch.touched {
        return Ok(Outcome::Nothing);
    }
    Ok(Outcome::Delta(Box::new(ch)))
}

/// What [`sync`] did.
struct Synced {
    /// Everything was applied.
    ok: bool,
    /// Entries changed in place; `None` when the matcher changed
    /// wholesale (loaded again, or a list changed).
    changed: Option<usize>,
}

/// Read and apply every page of changes since the poller's cursor.
fn sync(st: &AppState, p: &mut Poller) -> Result<Synced, ApiError> {
    let mut changed = Some(0usize);
    let mut out = poll_once(st, p, true)?;
    loop {
        let more = out.more();
        changed = match (&out, changed) {
            (Outcome::Delta(ch), Some(n)) if ch.lists.is_none() => Some(n + ch.entries.len()),
            (Outcome::Nothing, n) => n,
            _ => None,
        };
        // A page of a big import (or mass disable) with more to come: the
        // next page is read from the database on this thread while a
        // thread of its own applies this one, so reading and applying
        // overlap instead of taking turns. Only entries: a list change
        // reads the list's entries on the poller's connection.
        let overlap = more && matches!(&out, Outcome::Delta(ch) if ch.lists.is_none());
        let (applied, next) = if overlap {
            let before = p.cursor.clone();
            let (applied, next) = std::thread::scope(|s| {
                let applying = s.spawn(|| apply(st, None, out));
                let next = poll_once(st, p, false);
                // A panic while applying is a poisoned lock, as below.
                (applying.join().unwrap_or(Applied::Poisoned), next)
            });
            if !matches!(applied, Applied::Done) {
                // The page read ahead is not applied: read it again.
                p.cursor = before;
            }
            (applied, Some(next))
        } else {
            (apply(st, Some(&p.store), out), None)
        };
        match applied {
            Applied::Done => {}
            Applied::Poisoned => {
                // The next poll loads the matcher whole.
                p.cursor = ChangeCursor::default();
                return Ok(Synced { ok: false, changed });
            }
            Applied::ListsFailed => {
                // Undone where half done (see `apply_lists`): the next
                // look reports every list again and diffs afresh.
                p.cursor.forget_lists();
                return Ok(Synced { ok: false, changed });
            }
        }
        match next {
            Some(next) => out = next?,
            None if more => out = poll_once(st, p, false)?,
            None => return Ok(Synced { ok: true, changed }),
        }
    }
}

/// How long the poller tries to take the write lock without queueing
/// before it waits in line like any writer.
const POLITE_WRITE: Duration = Duration::from_secs(2);

/// The matcher's write lock, taken without making readers wait: std's
/// `RwLock` queues new readers behind a waiting writer, so a writer
/// waiting out one long match (a 100,000-frame vPDQ query) would stall
/// every lookup behind it. Retry `try_write` for a while first; only a
/// service never free of readers for [`POLITE_WRITE`] makes us queue.
/// The first retries only yield the core ([`POLITE_YIELDS`]): the gap
/// between two lookups of a busy client is tens of microseconds, and a
/// writer asleep through it waits for the next one (pauses that grew to
/// 5 ms made a 100,000-entry import wait seconds for ~4,000 holds); then
/// short sleeps, at most [`POLITE_MAX_PAUSE`].
fn write_politely(st: &AppState) -> Option<std::sync::RwLockWriteGuard<'_, RecordMatcher>> {
    let deadline = std::time::Instant::now() + POLITE_WRITE;
    let mut pause = Duration::from_micros(20);
    let mut tries = 0u32;
    loop {
        match st.matcher.try_write() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(_)) => return None,
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        if std::time::Instant::now() >= deadline {
            return st.matcher.write().ok();
        }
        tries += 1;
        if tries <= POLITE_YIELDS {
            std::thread::yield_now();
            continue;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(POLITE_MAX_PAUSE);
    }
}

/// Retries of [`write_politely`] that only yield before it sleeps.
const POLITE_YIELDS: u32 = 200;
/// The longest sleep between two retries of [`write_politely`].
const POLITE_MAX_PAUSE: Duration = Duration::from_micros(250);

/// How applying one poll went.
enum Applied {
    Done,
    /// The matcher's lock is poisoned (a panic while it was changed).
    Poisoned,
    /// A list's entries could not be read (the rest was applied).
    ListsFailed,
}

/// Apply one poll's outcome: list changes first (a list disabled stops
/// being reported before anything else), then the allowlist, then the
/// entries.
/// `store`: the poller's connection, for a list change (it reads the
/// list's entries); without it a list change is left for the next look
/// (`ListsFailed`).
fn apply(st: &AppState, store: Option<&Store>, out: Outcome) -> Applied {
    match out {
        Outcome::Nothing if st.matcher.is_poisoned() => Applied::Poisoned,
        Outcome::Nothing => Applied::Done,
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
            Applied::Done
        }
        Outcome::Delta(ch) => {
            let ch = *ch;
            let mut lists_ok = true;
            if let Some(all) = &ch.lists {
                let Some(store) = store else {
                    return Applied::ListsFailed;
                };
                match apply_lists(st, store, all, &ch.deleted_lists) {
                    Some(ok) => lists_ok = ok,
                    None => return Applied::Poisoned,
                }
            }
            if !ch.allow.is_empty() {
                let Some(mut g) = write_politely(st) else {
                    return Applied::Poisoned;
                };
                let held = std::time::Instant::now();
                g.matcher_mut().apply_allow_changes(&ch.allow);
                drop(g);
                st.metrics.observe_write_hold(held.elapsed());
                st.metrics.live_allow_changes.inc_by(ch.allow.len() as u64);
            }
            if !apply_entries(st, &ch.entries, false) {
                return Applied::Poisoned;
            }
            st.metrics.live_updates.inc_by(ch.entries.len() as u64);
            if ch.touched && ch.entries.is_empty() {
                // Entry details (labels) may have changed: the cache goes
                // (applying entries above already emptied it).
                match write_politely(st) {
                    Some(mut g) => {
                        g.matcher_mut();
                    }
                    None => return Applied::Poisoned,
                }
            }
            if lists_ok {
                Applied::Done
            } else {
                Applied::ListsFailed
            }
        }
    }
}

/// Apply changed entries in slices: what can be worked out from a shared
/// reference (the slots to tombstone, vectors grown ahead) is, under the
/// read lock, lookups going on; the write lock is held for one slice at a
/// time. A slice is as many entries as fit in [`HOLD_BUDGET`] at the cost
/// per entry the slices before it took (see [`SliceSize`]): a poll of a
/// few dozen changes is one short hold, a big import thousands of entries
/// a hold instead of 16. `fresh`: entries of a list just shown, none of
/// them in the matcher yet (nothing to look up for removal). False when
/// the matcher's lock is poisoned.
fn apply_entries(st: &AppState, entries: &[hashdb::model::Entry], fresh: bool) -> bool {
    let mut rest = entries;
    while !rest.is_empty() {
        let (slice, after) = rest.split_at(APPLY_SLICE.next().min(rest.len()));
        rest = after;
        // This thread is the matcher's only writer, so nothing changes
        // before the write lock below; the plan's stamp checks it anyway.
        let plan = match st.matcher.read() {
            Ok(g) if fresh => g.matcher().plan_adds(slice),
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
        let held = held.elapsed();
        st.metrics.observe_write_hold(held);
        APPLY_SLICE.observe(slice.len(), held);
        drop(retired);
        st.metrics.index_pdq_hashes.set(n as i64);
        if compact && !compact_pdq(st) {
            return false;
        }
    }
    true
}

/// Items of a hidden list removed per hold of the write lock (a
/// tombstone is a bit set: a slice is a few microseconds).
const REMOVE_SLICE: usize = 1024;

/// Entries of a list read from the store at a time (then applied in
/// slices): bounds the memory a list of millions takes to enable.
const READ_CHUNK: usize = 4096;

/// Apply the list changes that turn the matcher's lists into `all` (see
/// the module docs). `None` when the lock is poisoned; `Some(false)` when
/// a list's entries could not be read: that change is undone (the list
/// hidden again, or its old gate put back) so that the next diff makes it
/// again.
fn apply_lists(
    st: &AppState,
    store: &Store,
    all: &[hashdb::model::ListInfo],
    deleted: &[hashdb::model::ListId],
) -> Option<bool> {
    let changes = st.matcher.read().ok()?.matcher().diff_lists(all, deleted);
    let mut ok = true;
    for c in &changes {
        match c {
            ListChange::Hide(id) => hide(st, *id)?,
            ListChange::Settings(info) => {
                with_write(st, |m| m.show_list(info.clone()))?;
            }
            ListChange::Show(info) => {
                with_write(st, |m| m.show_list(info.clone()))?;
                match add_list_entries(st, store, info.id, None) {
                    Some(true) => {}
                    Some(false) => {
                        ok = false;
                        hide(st, info.id)?;
                    }
                    None => return None,
                }
            }
            ListChange::Regate { info, old } => {
                with_write(st, |m| m.show_list(info.clone()))?;
                match add_list_entries(st, store, info.id, Some((info, *old))) {
                    Some(true) => {}
                    Some(false) => {
                        ok = false;
                        let mut back = info.clone();
                        back.pdq_quality = *old;
                        with_write(st, |m| m.show_list(back))?;
                    }
                    None => return None,
                }
            }
        }
        st.metrics.live_list_changes.inc();
    }
    // Names and settings for the reports.
    let mut g = write_politely(st)?;
    let held = std::time::Instant::now();
    g.set_lists(all.to_vec());
    drop(g);
    st.metrics.observe_write_hold(held.elapsed());
    Some(ok)
}

/// One short hold of the write lock to change the matcher's settings.
fn with_write<T>(st: &AppState, f: impl FnOnce(&mut hashdb::matcher::Matcher) -> T) -> Option<T> {
    let mut g = write_politely(st)?;
    let held = std::time::Instant::now();
    let out = f(g.matcher_mut());
    drop(g);
    st.metrics.observe_write_hold(held.elapsed());
    Some(out)
}

/// Hide list `id` (one short hold: lookups stop reporting it), then
/// remove its entries [`REMOVE_SLICE`] at a time, found under the read
/// lock. `None` when the lock is poisoned.
fn hide(st: &AppState, id: hashdb::model::ListId) -> Option<()> {
    with_write(st, |m| m.hide_list(id))?;
    // Bounded: what a pass removes is not found again (a compaction in
    // between can make a second pass; nothing else writes the matcher).
    for _ in 0..3 {
        // Found again after the slices (a compaction in between moves
        // slots; the removal re-checks each slot's list, so a moved slot
        // is only missed, never wrongly removed, and found here).
        let mut r = st.matcher.read().ok()?.matcher().plan_list_removal(id);
        if r.is_empty() {
            break;
        }
        while !with_write(st, |m| m.apply_list_removal(&mut r, REMOVE_SLICE))? {}
    }
    let n = st.matcher.read().ok()?.matcher().pdq_len();
    st.metrics.index_pdq_hashes.set(n as i64);
    let compact = st.matcher.read().ok()?.matcher().pdq_needs_compaction();
    if compact && !compact_pdq(st) {
        return None;
    }
    Some(())
}

/// Read list `id`'s entries from the store ([`READ_CHUNK`] at a time) and
/// apply them: all of them for a list just shown, or (`regate`: its
/// settings and the old gate) those between the two gates. `Some(false)`
/// when the store could not be read.
fn add_list_entries(
    st: &AppState,
    store: &Store,
    id: hashdb::model::ListId,
    regate: Option<(&hashdb::model::ListInfo, u8)>,
) -> Option<bool> {
    let Ok(ids) = store.list_entry_ids(id) else {
        st.metrics.live_errors.inc();
        return Some(false);
    };
    for chunk in ids.chunks(READ_CHUNK) {
        let Ok(mut entries) = store.entries_by_id(chunk) else {
            st.metrics.live_errors.inc();
            return Some(false);
        };
        match regate {
            None => {
                if !apply_entries(st, &entries, true) {
                    return None;
                }
            }
            Some((info, old)) => {
                entries.retain(|e| ListChange::regated(info, old, e));
                if !apply_entries(st, &entries, false) {
                    return None;
                }
            }
        }
    }
    Some(true)
}

/// How long one hold of the write lock applying changed entries should
/// last: lookups wait for at most about this (plus the lock's hand-over),
/// not for a whole poll's worth. A lookup between two slices may see part
/// of a poll's changes, as it could already see one poll's changes before
/// the next poll's.
const HOLD_BUDGET: Duration = Duration::from_micros(100);

/// Bounds of a slice of changed entries, whatever the measured cost: at
/// least a few (a hold measured long because the thread was preempted
/// must not shrink slices to one entry), at most what a cheap change
/// (a tombstone, a delta insert: about a microsecond) fits in a hold.
const MIN_SLICE: usize = 16;
const MAX_SLICE: usize = 4096;

/// The size of the next slice of changed entries, learnt from the holds
/// before it: the entries a [`HOLD_BUDGET`] fits at the last measured cost
/// per entry, moving by at most a factor of 2 a slice (one preempted or
/// unusually cheap hold does not swing it). Kept across polls, so a small
/// poll is sized by what the last ones cost.
struct SliceSize(std::sync::atomic::AtomicUsize);

/// The process's one: a process serves one matcher (a second one would
/// only share the estimate of the cost per entry).
static APPLY_SLICE: SliceSize = SliceSize(std::sync::atomic::AtomicUsize::new(64));

impl SliceSize {
    fn next(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `n` entries were applied in one hold of `held`.
    fn observe(&self, n: usize, held: Duration) {
        let cur = self.next();
        // A slice cut short by the end of the poll says little when tiny.
        if n < MIN_SLICE.min(cur) {
            return;
        }
        let held = held.as_nanos().max(1);
        let fit = (n as u128 * HOLD_BUDGET.as_nanos() / held) as usize;
        let next = fit
            .clamp(cur / 2, cur.saturating_mul(2))
            .clamp(MIN_SLICE, MAX_SLICE);
        self.0.store(next, std::sync::atomic::Ordering::Relaxed);
    }
}

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
    // Saves the index files again as changes pile up (PostgreSQL with
    // $HASHSIEVE_INDEX_DIR); opening its connection blocks.
    let resave = {
        let s = st.clone();
        tokio::task::spawn_blocking(move || super::index_save::Resave::start(&s))
            .await
            .unwrap_or_else(|_| super::index_save::Resave::none())
    };
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
            // Applying takes the write lock: off the executor, with the
            // poll (a list enabled reads its entries on this connection).
            let out = sync(&s, &mut p);
            (p, out)
        })
        .await;
        match res {
            Ok((p, Ok(Synced { ok: true, changed }))) => {
                st.mark_synced(polled_at);
                resave.after_poll(&p.cursor, changed);
                poller = Some(p);
            }
            Ok((p, Ok(Synced { ok: false, .. }))) => {
                // Poisoned: the next poll loads the matcher whole; a list
                // that could not be read: it is diffed again (`sync` set
                // the cursor for either).
                st.metrics.live_errors.inc();
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
