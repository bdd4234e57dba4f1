//! Keeping a PostgreSQL store's saved index fresh (`$HASHSIEVE_INDEX_DIR`,
//! see `hashdb::store::pg::saved`): a running server saves the files again
//! from its in-memory matcher once the catch-up a new server would apply
//! from the files on disk has grown past a bound.
//!
//! Why: the files are written at a full read; a server that started from
//! them and catches up in place never reads the database whole again, so
//! without this the catch-up of every later start would grow with every
//! change since (days of them), until past a quarter of the rows it is a
//! full read. The matcher already is the database as of the poller's
//! cursor, so saving it needs no read of the rows: a copy of its PDQ rows
//! under the read lock (lookups go on; only the poller's next write waits
//! for it), then, on this module's thread at a lower priority, the sort,
//! the index tables built over the copy, and the files written (temporary
//! names renamed, sealed, the cursor last).
//!
//! When: the poller tells this thread its cursor after every poll (a few
//! atomics, nothing more on its path). At most every
//! [`CHECK_EVERY`], once the changed entries applied since the last save
//! could have reached the bound (a count the polls over-estimate: a poll
//! re-reads the last seconds' status changes), the thread asks the
//! database how many changes a start from the files on disk would catch up
//! (one count on the change log's indexes, stopped at the bound); at the
//! bound ([`resave_after`]: `$HASHSIEVE_INDEX_RESAVE_CHANGES`, default the
//! larger of 50,000 and a twentieth of the rows), or with any change
//! pending once the files are [`RESAVE_AGE`] old
//! (`$HASHSIEVE_INDEX_RESAVE_SECS`), it saves, after the changes have
//! paused for [`QUIET`] (so the saved cursor is past the change log's
//! re-read margin and a burst is saved whole), or [`MAX_DEFER`] after it
//! became due under a steady stream. A failed save is tried again after
//! [`RETRY`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hashdb::index::{IndexConfig, PdqIndex};
use hashdb::store::{ChangeCursor, Store};

use super::state::AppState;

/// Save when changes are pending and the files are this old.
pub const RESAVE_AGE: Duration = Duration::from_secs(6 * 3600);
/// The least number of changes that makes a save (see [`resave_after`]).
pub const RESAVE_MIN_CHANGES: u64 = 50_000;
/// The most often the database is asked for the catch-up's size.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Changes must have paused this long before a save...
pub const QUIET: Duration = Duration::from_secs(3);
/// ...unless the save has been due this long.
pub const MAX_DEFER: Duration = Duration::from_secs(60);
/// A save that failed is tried again after this.
const RETRY: Duration = Duration::from_secs(300);
/// How often a server marks its database's files as in use (see
/// `hashdb::store::pg::saved::prune_index_dir`).
const MARK_EVERY: Duration = Duration::from_secs(3600);

/// The changes after which a save is due: `every` (the environment's
/// `HASHSIEVE_INDEX_RESAVE_CHANGES`), else the larger of
/// [`RESAVE_MIN_CHANGES`] and a twentieth of `rows`.
pub fn resave_after(every: Option<u64>, rows: usize) -> u64 {
    every.unwrap_or_else(|| RESAVE_MIN_CHANGES.max(rows as u64 / 20))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// What the poller tells the saving thread.
struct Polls {
    /// The cursor of the last poll applied.
    latest: Mutex<Option<ChangeCursor>>,
    /// Entries applied since the thread last looked.
    changed: AtomicU64,
    /// The matcher was rebuilt since the thread last looked.
    rebuilt: AtomicBool,
    /// Milliseconds from `origin` to the last poll that changed something.
    last_change_ms: AtomicU64,
    origin: Instant,
    /// The poller is gone: the thread ends.
    stop: AtomicBool,
}

/// The poller's handle on the saving thread (none without a saved index).
pub struct Resave {
    polls: Option<Arc<Polls>>,
}

impl Drop for Resave {
    fn drop(&mut self) {
        if let Some(p) = &self.polls {
            p.stop.store(true, Ordering::Release);
        }
    }
}

impl Resave {
    /// A handle that does nothing (no saved index, or no thread).
    pub fn none() -> Resave {
        Resave { polls: None }
    }

    /// At the poller's start: says on stderr where the index came from
    /// (the saved files and how many changes were caught up, or a read of
    /// the database), and with a saved index starts the saving thread.
    pub fn start(st: &Arc<AppState>) -> Resave {
        let none = Resave::none();
        let caught_up = st.matcher.read().ok().and_then(|g| g.matcher().caught_up());
        let Ok(store) = Store::open_with(&st.db, st.open) else {
            return none;
        };
        if !store.keeps_saved_index() {
            return none;
        }
        match caught_up {
            Some(n) => eprintln!(
                "hashsieve serve: index from the saved files, caught up {n} changes from the change log"
            ),
            None => eprintln!(
                "hashsieve serve: index read from the database (and saved for the next start)"
            ),
        }
        store.mark_saved_index_used();
        let polls = Arc::new(Polls {
            latest: Mutex::new(None),
            changed: AtomicU64::new(0),
            rebuilt: AtomicBool::new(false),
            last_change_ms: AtomicU64::new(0),
            origin: Instant::now(),
            stop: AtomicBool::new(false),
        });
        let saver = Saver {
            st: st.clone(),
            store,
            polls: polls.clone(),
            every: env_u64("HASHSIEVE_INDEX_RESAVE_CHANGES"),
            age: env_u64("HASHSIEVE_INDEX_RESAVE_SECS")
                .map(Duration::from_secs)
                .unwrap_or(RESAVE_AGE),
            estimate: caught_up.unwrap_or(0) as u64,
        };
        match std::thread::Builder::new()
            .name("hashsieve-index-save".into())
            .spawn(move || saver.run())
        {
            Ok(_) => Resave { polls: Some(polls) },
            Err(_) => none,
        }
    }

    /// After a poll was applied: `changed` entries in place, or `None`
    /// for a rebuilt matcher. `cursor` is the poller's: the matcher now
    /// holds every change before it. A few atomics and a short mutex:
    /// nothing that waits on the saving thread.
    pub fn after_poll(&self, cursor: &ChangeCursor, changed: Option<usize>) {
        let Some(p) = &self.polls else {
            return;
        };
        if let Ok(mut l) = p.latest.lock() {
            *l = Some(cursor.clone());
        }
        match changed {
            Some(0) => return,
            Some(n) => {
                p.changed.fetch_add(n as u64, Ordering::AcqRel);
            }
            None => p.rebuilt.store(true, Ordering::Release),
        }
        p.last_change_ms
            .store(p.origin.elapsed().as_millis() as u64, Ordering::Release);
    }
}

/// The saving thread's state.
struct Saver {
    st: Arc<AppState>,
    store: Store,
    polls: Arc<Polls>,
    every: Option<u64>,
    age: Duration,
    /// Changed entries applied since the last save or count (at least
    /// the catch-up's growth since).
    estimate: u64,
}

/// How often the saving thread looks at what the poller told it.
const TICK: Duration = Duration::from_millis(500);

impl Saver {
    fn run(mut self) {
        lower_priority();
        let p = self.polls.clone();
        let mut checked: Option<Instant> = None;
        let mut marked = Instant::now();
        let mut due_since: Option<Instant> = None;
        let mut not_before = Instant::now();
        while !p.stop.load(Ordering::Acquire) {
            std::thread::sleep(TICK);
            self.estimate += p.changed.swap(0, Ordering::AcqRel);
            if p.rebuilt.swap(false, Ordering::AcqRel) {
                // Loaded anew: from the files (its catch-up) or read
                // whole (and saved then).
                self.estimate = self
                    .st
                    .matcher
                    .read()
                    .ok()
                    .and_then(|g| g.matcher().caught_up())
                    .unwrap_or(0) as u64;
            }
            if marked.elapsed() >= MARK_EVERY {
                self.store.mark_saved_index_used();
                marked = Instant::now();
            }
            let Some(cursor) = p.latest.lock().ok().and_then(|l| l.clone()) else {
                continue;
            };
            if Instant::now() < not_before {
                continue;
            }
            if due_since.is_none() && checked.is_none_or(|c| c.elapsed() >= CHECK_EVERY) {
                if let Some(due) = self.due(&cursor) {
                    checked = Some(Instant::now());
                    if due {
                        due_since = Some(Instant::now());
                    }
                }
            }
            let Some(since) = due_since else { continue };
            let quiet = p.origin.elapsed().saturating_sub(Duration::from_millis(
                p.last_change_ms.load(Ordering::Acquire),
            ));
            if quiet < QUIET && since.elapsed() < MAX_DEFER {
                continue;
            }
            // `cursor` is from a poll at least QUIET after the last change
            // (or the save is overdue).
            if self.save(&cursor) {
                self.estimate = 0;
            } else {
                not_before = Instant::now() + RETRY;
            }
            due_since = None;
        }
    }

    /// Whether a save is due with the poller at `cursor`; `None` when it
    /// could not be told (the database unreachable: asked again later).
    fn due(&mut self, cursor: &ChangeCursor) -> Option<bool> {
        let rows = self
            .st
            .matcher
            .read()
            .map(|g| g.matcher().pdq_len())
            .unwrap_or(0);
        let bound = resave_after(self.every, rows);
        let files = self.store.saved_index_cursor();
        let old = files
            .as_ref()
            .and_then(|(_, at)| SystemTime::now().duration_since(*at).ok())
            .is_some_and(|a| a >= self.age);
        if self.estimate < bound && !old {
            return Some(false);
        }
        let Some((files, _)) = files else {
            // No files (removed, or unreadable): a start would read the
            // database whole; save.
            return Some(true);
        };
        // Nothing written since the files' cursor: nothing to catch up.
        if Store::nothing_written_between(&files, cursor) {
            self.estimate = 0;
            return Some(false);
        }
        let n = self.store.pdq_catch_up_len(&files, bound).ok()?;
        self.estimate = n;
        Some(n >= bound || (old && n > 0))
    }

    /// One save; true when the files were written.
    fn save(&self, cursor: &ChangeCursor) -> bool {
        let started = Instant::now();
        // The copy is the only part under the lock (a shared one).
        let snap = match self.st.matcher.read() {
            Ok(g) => g.matcher().pdq_snapshot(),
            Err(_) => return false,
        };
        let copied = started.elapsed();
        let rows = snap.rows;
        let n = rows.len();
        // The tables a start would build over these rows, in this order
        // (and then save): built here, the next start loads them.
        let index = PdqIndex::build(rows.hashes.clone(), vec![(); n], IndexConfig::default());
        let tables = index.static_tables();
        let res = self.store.save_index_snapshot(
            cursor,
            &snap.gates,
            &rows,
            tables.as_ref().map(|(bits, t)| (*bits, t.as_slice())),
        );
        match res {
            Ok(Some(done)) => {
                eprintln!(
                    "hashsieve serve: index saved for the next start: {} rows, {:.1} MB, {:.0} ms copying under the read lock, {:.2} s in all{}",
                    done.rows,
                    done.bytes as f64 / 1e6,
                    copied.as_secs_f64() * 1e3,
                    started.elapsed().as_secs_f64(),
                    if done.removed.is_empty() {
                        String::new()
                    } else {
                        format!("; {} stale files removed", done.removed.len())
                    }
                );
                true
            }
            Ok(None) => false,
            Err(e) => {
                eprintln!("hashsieve serve: saving the index failed (tried again later): {e}");
                false
            }
        }
    }
}

/// Run this thread (and the threads it starts: the table builders) at a
/// lower priority, so that a save takes the cores lookups leave idle. On
/// Linux a thread's nice value is its own, and new threads inherit it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `0` names the
    // calling thread on Linux.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}
