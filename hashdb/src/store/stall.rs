//! A time limit on SQLite statements that make no progress.
//!
//! Why: a hostile or damaged database can make one statement run for hours
//! (a view or a crafted schema that the schema check did not foresee,
//! statistics that send the planner astray) and hang a scan or a service
//! thread with it. Our own statements either return rows steadily or
//! finish: a million-row read returns a row every microsecond or so, a
//! list deletion runs a trigger per deleted entry. So the limit is on time
//! *without progress*: a statement is interrupted (`SQLITE_INTERRUPT`) when
//! it has run for the limit since it started, since its last row or since
//! its last trigger step. A big read that keeps returning rows is never
//! stopped, whatever its total time; waiting for another process's lock is
//! not running (the busy timeout bounds it).
//!
//! How: SQLite's trace hook counts statement starts (which include each
//! trigger step) and rows; its progress handler, called every
//! [`CHECK_EVERY_OPS`] virtual-machine instructions, notes when the count
//! last moved and interrupts once it has not moved for the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::trace::TraceEventCodes;
use rusqlite::Connection;

/// Instructions between two looks at the clock: a few hundred
/// microseconds of work, so a stalled statement is stopped soon after the
/// limit and the clock costs nothing measurable.
const CHECK_EVERY_OPS: i32 = 50_000;

/// Interrupt statements of `conn` that make no progress for `limit`
/// (see the module docs); `Duration::ZERO` removes the limit.
pub(super) fn limit_stalls(conn: &mut Connection, limit: Duration) -> rusqlite::Result<()> {
    if limit.is_zero() {
        conn.trace_v2(
            TraceEventCodes::empty(),
            None::<fn(rusqlite::trace::TraceEvent<'_>)>,
        )?;
        conn.progress_handler(0, None::<fn() -> bool>)?;
        return Ok(());
    }
    let progress = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&progress);
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_STMT | TraceEventCodes::SQLITE_TRACE_ROW,
        Some(move |_: rusqlite::trace::TraceEvent<'_>| {
            seen.fetch_add(1, Ordering::Relaxed);
        }),
    )?;
    let mut last = u64::MAX;
    let mut since = Instant::now();
    conn.progress_handler(
        CHECK_EVERY_OPS,
        Some(move || {
            let now = progress.load(Ordering::Relaxed);
            if now != last {
                last = now;
                since = Instant::now();
                return false;
            }
            since.elapsed() > limit
        }),
    )
}

/// Whether `e` is a statement this module interrupted.
pub(crate) fn is_interrupt(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts to `n` without returning a row until the end.
    const SILENT: &str =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1)
                          SELECT count(*) FROM c";

    #[test]
    fn a_statement_without_progress_is_interrupted() {
        let mut c = Connection::open_in_memory().unwrap();
        limit_stalls(&mut c, Duration::from_millis(200)).unwrap();
        let t = Instant::now();
        // Runs for minutes unless stopped.
        let e = c
            .query_row(SILENT, [i64::MAX], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(is_interrupt(&e), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        // The connection is still usable, and the next statement starts
        // with a fresh allowance.
        std::thread::sleep(Duration::from_millis(300));
        let n: i64 = c.query_row(SILENT, [1000], |r| r.get(0)).unwrap();
        assert_eq!(n, 1000);
    }

    #[test]
    fn rows_coming_steadily_are_progress_and_the_limit_can_be_removed() {
        let mut c = Connection::open_in_memory().unwrap();
        limit_stalls(&mut c, Duration::from_millis(100)).unwrap();
        // Slow between rows (the reader sleeps), for longer than the limit
        // in total: never stopped.
        let mut st = c
            .prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6) SELECT x FROM c")
            .unwrap();
        let mut rows = st.query([]).unwrap();
        let mut n = 0;
        while let Some(r) = rows.next().unwrap() {
            n += r.get::<_, i64>(0).unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
        assert_eq!(n, 21);
        drop(rows);
        drop(st);
        limit_stalls(&mut c, Duration::ZERO).unwrap();
        let n: i64 = c.query_row(SILENT, [3_000_000], |r| r.get(0)).unwrap();
        assert_eq!(n, 3_000_000);
    }
}
