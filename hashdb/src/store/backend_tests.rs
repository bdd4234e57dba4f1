//! The store's tests, run against both backends: a test written once as
//! `both! { fn name(db) { ... } }` becomes `name::sqlite` (a temporary
//! file) and `name::postgres` (a throwaway server of its own, see
//! `pg/throwaway.rs`, started by the test and stopped at its end).
//!
//! Without PostgreSQL binaries the `postgres` half skips with a message,
//! or fails with `HASHSIEVE_REQUIRE_FIXTURES=1` (CI): a skip must never
//! hide a backend that was not tested there.

use super::pg::throwaway::{required, Server, Start};
use super::{DbTarget, OpenOptions, Store};

/// One database of one backend, for one test.
pub(crate) struct TestDb {
    target: String,
    // Kept for their lifetimes: the file's folder, the server.
    _dir: Option<tempfile::TempDir>,
    server: Option<Server>,
}

impl TestDb {
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let target = dir.path().join("t.db").to_string_lossy().into_owned();
        TestDb {
            target,
            _dir: Some(dir),
            server: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when the
    /// binaries are missing and that is allowed.
    pub(crate) fn postgres() -> Option<TestDb> {
        match Server::start() {
            Start::Running(server) => Some(TestDb {
                target: server.fresh_url(),
                _dir: None,
                server: Some(server),
            }),
            Start::Missing(why) if required() => {
                panic!("HASHSIEVE_REQUIRE_FIXTURES=1 and PostgreSQL is missing: {why}")
            }
            Start::Missing(why) => {
                eprintln!("skipping the PostgreSQL half of this test: {why}");
                None
            }
        }
    }

    /// The `--db` string of this database.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Open (creating the schema if needed).
    pub(crate) fn open(&self) -> Store {
        Store::open(&self.target).unwrap_or_else(|e| panic!("opening {}: {e}", self.target))
    }

    pub(crate) fn open_with(&self, opts: OpenOptions) -> Result<Store, crate::error::OpenError> {
        Store::open_with(&self.target, opts)
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.server.is_some()
    }

    pub(crate) fn server(&mut self) -> Option<&mut Server> {
        self.server.as_mut()
    }

    /// Run one SQL statement with no parameters under the store (for tests
    /// that plant what no API writes); the SQL must read the same in both
    /// dialects.
    pub(crate) fn execute(&self, sql: &str) {
        match DbTarget::parse(&self.target) {
            DbTarget::Sqlite(p) => {
                rusqlite::Connection::open(p)
                    .and_then(|c| c.execute_batch(sql))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            DbTarget::Postgres(url) => {
                postgres::Client::connect(&url, postgres::NoTls)
                    .and_then(|mut c| c.batch_execute(sql))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// The first column of the first row of `sql`, as bytes.
    pub(crate) fn query_bytes(&self, sql: &str) -> Vec<u8> {
        match DbTarget::parse(&self.target) {
            DbTarget::Sqlite(p) => rusqlite::Connection::open(p)
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            DbTarget::Postgres(url) => postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut c| c.query_one(sql, &[]))
                .and_then(|r| r.try_get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }
}

/// `both! { fn name(db) { body } ... }`: each test once per backend, with
/// `db: &TestDb`.
macro_rules! both {
    ($(#[doc = $doc:literal])* fn $name:ident($db:ident) $body:block $($rest:tt)*) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let $db = &$crate::store::backend_tests::TestDb::sqlite();
                $body
            }

            #[test]
            fn postgres() {
                let Some(db) = $crate::store::backend_tests::TestDb::postgres() else {
                    return;
                };
                let $db = &db;
                $body
            }
        }
        $crate::store::backend_tests::both! { $($rest)* }
    };
    () => {};
}
pub(crate) use both;

both! {
    /// The basics of opening: a fresh database gets this build's schema,
    /// and reopening does not migrate again.
    fn opens_at_the_current_schema(db) {
        let s = db.open();
        let current = if db.is_postgres() {
            crate::store::pg::schema::CURRENT_VERSION
        } else {
            crate::store::schema::CURRENT_VERSION
        };
        assert_eq!(s.schema_version().unwrap(), current);
        assert_eq!(s.is_postgres(), db.is_postgres());
        drop(s);
        assert_eq!(db.open().schema_version().unwrap(), current);
    }

    /// A database written by a newer hashsieve is refused, not guessed at.
    fn refuses_a_newer_schema(db) {
        drop(db.open());
        if db.is_postgres() {
            db.execute("UPDATE hashsieve_schema SET version = 99 WHERE id = 1");
        } else {
            db.execute("PRAGMA user_version = 99");
        }
        match db.open_with(OpenOptions::default()) {
            Err(crate::error::OpenError::TooNew { found: 99, .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a newer schema was opened"),
        }
    }

    /// `Create::Never` does not create: a mistyped target is an error.
    fn a_missing_database_is_created_only_when_asked(db) {
        let existing = OpenOptions::default().existing();
        assert!(matches!(
            db.open_with(existing),
            Err(crate::error::OpenError::Missing { .. })
        ));
        let mut s = db.open();
        assert!(!s.has_enabled_list().unwrap());
        s.create_list(&crate::model::NewList::new("a")).unwrap();
        assert!(s.has_enabled_list().unwrap());
        drop(s);
        assert!(db.open_with(existing).is_ok());
    }
}

both! {
    /// Writers from several connections at once: every import lands once,
    /// and the ids of the new entries only grow in commit order (the
    /// change log reads new entries as the ids above its cursor).
    fn concurrent_writers_all_land(db) {
        use crate::model::{NewList, Record, Value};
        use crate::types::Pdq;
        db.open().create_list(&NewList::new("l")).unwrap();
        let mut reader = db.open();
        let mut cursor = reader.change_cursor().unwrap();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let mut s = db.open();
                std::thread::spawn(move || {
                    for i in 0..10u8 {
                        let mut h = [t; 32];
                        h[1] = i;
                        let rec = Ok(Record::new(Value::Pdq(Pdq(h))));
                        s.import("l", [rec], std::path::Path::new("t"), Default::default())
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for t in threads {
            t.join().unwrap();
            let ch = reader.changes_since(&cursor, 1000).unwrap();
            seen.extend(ch.entries.iter().map(|e| e.id));
            cursor = ch.next;
        }
        let ch = reader.changes_since(&cursor, 1000).unwrap();
        seen.extend(ch.entries.iter().map(|e| e.id));
        let all: std::collections::BTreeSet<_> = reader.entry_ids("l").unwrap().into_iter().collect();
        assert_eq!(all.len(), 40);
        assert_eq!(seen, all, "the change log missed entries written concurrently");
    }
}

/// Every commit wakes a listener on another connection; a connection
/// that went away is noticed, and a new listener works after the server
/// comes back.
#[test]
fn postgres_listener_wakes_on_commits() {
    use super::pg::listen::{Listener, Wake};
    use std::time::Duration;
    let Some(mut db) = TestDb::postgres() else {
        return;
    };
    let mut s = db.open();
    let opts = OpenOptions::default();
    let mut l = Listener::connect(db.target(), &opts).unwrap();
    assert_eq!(l.wait(Duration::from_millis(200)).unwrap(), Wake::Timeout);
    s.create_list(&crate::model::NewList::new("a")).unwrap();
    assert_eq!(l.wait(Duration::from_secs(5)).unwrap(), Wake::Changed);
    // A failed write announces nothing.
    assert!(s.create_list(&crate::model::NewList::new("a")).is_err());
    assert_eq!(l.wait(Duration::from_millis(300)).unwrap(), Wake::Timeout);
    drop(s);
    let server = db.server().unwrap();
    assert!(server.restart(), "{}", server.log());
    assert!(
        l.wait(Duration::from_millis(300)).is_err(),
        "a lost connection must be an error"
    );
    let mut l = Listener::connect(db.target(), &opts).unwrap();
    db.open().set_list_enabled("a", false).unwrap();
    assert_eq!(l.wait(Duration::from_secs(5)).unwrap(), Wake::Changed);
}

both! {
    /// HMA's signal type ratios and exchanges are kept in the store: a
    /// second connection (a restart, another server) sees what one wrote.
    fn hma_settings_outlive_the_connection(db) {
        use crate::store::hma_config::HmaExchange;
        let mut a = db.open();
        assert!(a.hma_signal_ratios().unwrap().is_empty());
        a.set_hma_signal_ratio("pdq", 0.25).unwrap();
        a.set_hma_signal_ratio("video_md5", 0.0).unwrap();
        a.set_hma_signal_ratio("pdq", 0.5).unwrap();
        assert!(matches!(
            a.set_hma_signal_ratio("pdq", 1.5),
            Err(crate::error::StoreError::Invalid { .. })
        ));
        assert!(a.set_hma_signal_ratio("pdq", f64::NAN).is_err());
        let ex = |name: &str, api: &str| HmaExchange {
            name: name.into(),
            api: api.into(),
            enabled: true,
            config: format!("{{\"filename\": \"{name}.txt\"}}"),
        };
        assert!(a.hma_exchange_create(&ex("B_EX", "local_file")).unwrap());
        assert!(a.hma_exchange_create(&ex("A_EX", "sample")).unwrap());
        // A second of the same name is refused and changes nothing.
        assert!(!a.hma_exchange_create(&ex("B_EX", "sample")).unwrap());
        assert!(a.hma_exchange_set_enabled("B_EX", false).unwrap());
        assert!(!a.hma_exchange_set_enabled("NO_EX", false).unwrap());
        drop(a);

        let mut b = db.open();
        let ratios = b.hma_signal_ratios().unwrap();
        assert_eq!(
            ratios.into_iter().collect::<Vec<_>>(),
            vec![("pdq".to_string(), 0.5), ("video_md5".to_string(), 0.0)]
        );
        let mut b_ex = ex("B_EX", "local_file");
        b_ex.enabled = false;
        assert_eq!(b.hma_exchanges().unwrap(), vec![ex("A_EX", "sample"), b_ex]);
        assert!(b.hma_exchange_delete("A_EX").unwrap());
        assert!(!b.hma_exchange_delete("A_EX").unwrap());
        let names: Vec<String> = db.open().hma_exchanges().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["B_EX".to_string()]);
    }
}

both! {
    /// A status change is reported once, not again at every look while it
    /// is inside the change log's re-read margin (a server polled 20 times
    /// a second applied each one ~50 times); a later change of the same
    /// entry in the same second, to another status or back, is reported.
    fn a_status_change_is_reported_once(db) {
        use crate::model::{NewList, Record, Status, StatusChange, Value};
        use crate::types::Pdq;
        let mut w = db.open();
        w.create_list(&NewList::new("l")).unwrap();
        let recs = (0..3u8).map(|i| Ok(Record::new(Value::Pdq(Pdq([i; 32])))));
        w.import("l", recs, std::path::Path::new("t"), Default::default()).unwrap();
        let ids = w.entry_ids("l").unwrap();
        let mut reader = db.open();
        let mut cursor = reader.change_cursor().unwrap();
        let t = crate::store::now();
        let mut set = |id, status| {
            let change = StatusChange { status, at: Some(t), ..StatusChange::default() };
            w.set_status(id, &change).unwrap();
        };
        let mut look = |cursor: &mut crate::store::ChangeCursor| {
            let ch = reader.changes_since(cursor, 1000).unwrap();
            *cursor = ch.next;
            ch.entries.iter().map(|e| (e.id, e.status.status)).collect::<Vec<_>>()
        };
        set(ids[0], Status::Disabled);
        assert_eq!(look(&mut cursor), vec![(ids[0], Status::Disabled)]);
        // Entry 0 is read again (same second) but not reported again.
        set(ids[1], Status::Disabled);
        assert_eq!(look(&mut cursor), vec![(ids[1], Status::Disabled)]);
        set(ids[2], Status::Disputed);
        assert_eq!(look(&mut cursor), vec![(ids[2], Status::Disputed)]);
        // Back and forth within the same second: each change is reported.
        set(ids[0], Status::Active);
        assert_eq!(look(&mut cursor), vec![(ids[0], Status::Active)]);
        set(ids[0], Status::Disabled);
        assert_eq!(look(&mut cursor), vec![(ids[0], Status::Disabled)]);
        // Nothing written: nothing.
        assert!(look(&mut cursor).is_empty());
        // A reader from an older cursor (another server) still gets all.
        let mut fresh = db.open();
        let old = fresh.change_cursor().unwrap();
        set(ids[1], Status::Active);
        let ch = fresh.changes_since(&old, 1000).unwrap();
        assert_eq!(
            ch.entries.iter().map(|e| (e.id, e.status.status)).collect::<Vec<_>>(),
            vec![(ids[0], Status::Disabled), (ids[1], Status::Active), (ids[2], Status::Disputed)]
        );
    }
}

both! {
    /// Entries read in a batch (runs of close ids by range, scattered ones
    /// one by one, ids asked for twice or missing) are exactly the
    /// entries read one at a time, labels included, in id order.
    fn entries_by_id_equals_one_at_a_time(db) {
        use crate::model::{NewList, Record, Value};
        use crate::types::Pdq;
        let mut w = db.open();
        w.create_list(&NewList::new("l")).unwrap();
        let recs = (0..40u8).map(|i| {
            let mut r = Record::new(Value::Pdq(Pdq([i; 32])));
            if i % 3 == 0 {
                r.labels.insert(format!("label-{i}"));
                r.labels.insert("common".to_string());
            }
            Ok(r)
        });
        w.import("l", recs, std::path::Path::new("t"), Default::default()).unwrap();
        let all = w.entry_ids("l").unwrap();
        // A run with holes (every 3rd id skipped), a scattered few, one
        // id twice and one that does not exist.
        let mut ask: Vec<i64> = all[..24].iter().copied().filter(|id| id % 3 != 0).collect();
        ask.extend([all[30], all[35], all[35], all[39] + 1000]);
        let got = w.entries_by_id(&ask).unwrap();
        let mut want_ids = ask.clone();
        want_ids.sort_unstable();
        want_ids.dedup();
        want_ids.retain(|id| all.contains(id));
        let want: Vec<_> = want_ids.iter().map(|&id| w.entry(id).unwrap()).collect();
        assert_eq!(got, want);
        assert!(got.iter().any(|e| e.record.labels.contains("common")));
    }
}
