//! Before a database is used, its schema must be exactly ours for its
//! version: the same tables, indexes and triggers, with the same
//! definitions, and nothing else.
//!
//! Why: a database file is input (shared, copied, restored from a backup
//! someone else made). SQLite runs whatever the file defines: a view in
//! place of a table can make a plain `SELECT` run forever, and a trigger can
//! delete every row an import adds while the import reports success. Our
//! code never creates views or triggers besides those of the migrations, so
//! anything else is refused, naming the objects, before any table is read.
//!
//! The expected schema of version `v` is what migrations `0..v` produce in
//! an empty in-memory database, built once per process: it cannot drift
//! from the migrations. Definitions are compared with whitespace runs
//! collapsed (the text SQLite keeps is the text of the statement).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use rusqlite::Connection;

use super::schema;
use crate::error::OpenError;

/// One row of `sqlite_schema`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    kind: String,
    name: String,
    table: String,
    /// Normalised definition; `None` for automatic indexes.
    sql: Option<String>,
}

impl Object {
    fn describe(&self) -> String {
        if self.kind == "table" || self.kind == "view" || self.name == self.table {
            format!("{} {:?}", self.kind, self.name)
        } else {
            format!("{} {:?} on {:?}", self.kind, self.name, self.table)
        }
    }
}

/// Definitions an earlier build wrote for the same schema version, still
/// ours: `(name, definition)`. Version 4's generation triggers first
/// counted (`value + 1`) before they drew a random value; databases made
/// then keep the counting triggers, which are harmless.
const EARLIER_FORMS: &[(&str, &str)] = &[
    ("entries_gen_insert", "CREATE TRIGGER entries_gen_insert AFTER INSERT ON entries BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
    ("entries_gen_delete", "CREATE TRIGGER entries_gen_delete AFTER DELETE ON entries BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
    ("entries_gen_update", "CREATE TRIGGER entries_gen_update AFTER UPDATE OF list_id, signal_type, value, quality, status ON entries BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
    ("lists_gen_insert", "CREATE TRIGGER lists_gen_insert AFTER INSERT ON lists BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
    ("lists_gen_delete", "CREATE TRIGGER lists_gen_delete AFTER DELETE ON lists BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
    ("lists_gen_update", "CREATE TRIGGER lists_gen_update AFTER UPDATE ON lists BEGIN UPDATE index_generation SET value = value + 1 WHERE id = 1; END"),
];

/// SQLite's own statistics tables (`ANALYZE` creates them): data for the
/// query planner, no code; a hostile planner hint can at worst slow a
/// statement, which the statement time limit bounds.
fn is_statistics(o: &Object) -> bool {
    o.kind == "table" && matches!(o.name.as_str(), "sqlite_stat1" | "sqlite_stat4")
}

fn normalise(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    let mut st = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")?;
    let rows = st.query_map([], |r| {
        Ok(Object {
            kind: r.get(0)?,
            name: r.get(1)?,
            table: r.get(2)?,
            sql: r.get::<_, Option<String>>(3)?.map(|s| normalise(&s)),
        })
    })?;
    rows.collect()
}

/// The schema of every version, `0..=CURRENT_VERSION`.
fn expected() -> Result<&'static [Vec<Object>], rusqlite::Error> {
    static EXPECTED: OnceLock<Result<Vec<Vec<Object>>, String>> = OnceLock::new();
    let built = EXPECTED.get_or_init(|| {
        let build = || -> rusqlite::Result<Vec<Vec<Object>>> {
            let conn = Connection::open_in_memory()?;
            let mut all = vec![objects(&conn)?];
            for m in schema::MIGRATIONS {
                conn.execute_batch(m)?;
                all.push(objects(&conn)?);
            }
            Ok(all)
        };
        build().map_err(|e| e.to_string())
    });
    // Cannot fail with migrations that run (every test opens a database);
    // reported as an SQLite error rather than a panic all the same.
    built.as_deref().map_err(|e| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!("building the expected schema: {e}")),
        )
    })
}

/// Check the schema of `conn` against version `version`'s.
///
/// # Errors
/// [`OpenError::Foreign`] for an unversioned database with tables,
/// [`OpenError::UnexpectedSchema`] naming every object that is not ours,
/// changed or missing; SQLite errors as [`OpenError::Sqlite`].
pub(super) fn check(conn: &Connection, path: &Path, version: i64) -> Result<(), OpenError> {
    let sqlite = |source| OpenError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let found = objects(conn).map_err(sqlite)?;
    if version == 0 && found.iter().any(|o| o.kind == "table") {
        return Err(OpenError::Foreign {
            path: path.to_path_buf(),
        });
    }
    let all = expected().map_err(sqlite)?;
    let want = usize::try_from(version)
        .ok()
        .and_then(|v| all.get(v))
        .ok_or_else(|| OpenError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: schema::CURRENT_VERSION,
        })?;
    let by_name: BTreeMap<&str, &Object> = want.iter().map(|o| (o.name.as_str(), o)).collect();
    let mut problems = Vec::new();
    for o in found.iter().filter(|o| !is_statistics(o)) {
        match by_name.get(o.name.as_str()) {
            None => problems.push(format!("{} (not ours)", o.describe())),
            Some(w) if w.kind != o.kind => {
                problems.push(format!("{} (ours is a {})", o.describe(), w.kind));
            }
            Some(w) if w.table != o.table || !same_definition(w, o) => {
                problems.push(format!("{} (definition changed)", o.describe()));
            }
            Some(_) => {}
        }
    }
    for w in want {
        if !found.iter().any(|o| o.name == w.name) {
            problems.push(format!("{} (missing)", w.describe()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OpenError::UnexpectedSchema {
            path: path.to_path_buf(),
            version,
            objects: problems.join(", "),
        })
    }
}

fn same_definition(want: &Object, found: &Object) -> bool {
    if want.sql == found.sql {
        return true;
    }
    let Some(sql) = &found.sql else {
        return false;
    };
    EARLIER_FORMS
        .iter()
        .any(|(name, form)| *name == found.name && normalise(form) == *sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(version: usize) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        for m in &schema::MIGRATIONS[..version] {
            c.execute_batch(m).unwrap();
        }
        c
    }

    fn problems(c: &Connection, version: i64) -> String {
        match check(c, Path::new("t.db"), version) {
            Err(OpenError::UnexpectedSchema { objects, .. }) => objects,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn every_version_of_our_schema_passes() {
        for v in 0..=schema::MIGRATIONS.len() {
            check(&db(v), Path::new("t.db"), v as i64).unwrap();
        }
        // ANALYZE's statistics are allowed.
        let c = db(schema::MIGRATIONS.len());
        c.execute_batch("ANALYZE").unwrap();
        check(&c, Path::new("t.db"), schema::CURRENT_VERSION).unwrap();
    }

    #[test]
    fn the_counting_generation_triggers_of_earlier_builds_pass() {
        let c = db(schema::MIGRATIONS.len());
        for (name, form) in EARLIER_FORMS {
            c.execute_batch(&format!("DROP TRIGGER {name}; {form};"))
                .unwrap();
        }
        check(&c, Path::new("t.db"), schema::CURRENT_VERSION).unwrap();
    }

    #[test]
    fn foreign_objects_are_named() {
        let v = schema::CURRENT_VERSION;
        let c = db(schema::MIGRATIONS.len());
        c.execute_batch(
            "CREATE TRIGGER wipe AFTER INSERT ON entries BEGIN DELETE FROM entries; END",
        )
        .unwrap();
        assert_eq!(problems(&c, v), r#"trigger "wipe" on "entries" (not ours)"#);

        let c = db(schema::MIGRATIONS.len());
        c.execute_batch(
            "DROP TABLE vpdq_frames;
             CREATE VIEW vpdq_frames AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)
             SELECT x AS entry_id, x AS frame, 50 AS quality, zeroblob(32) AS hash, 0.0 AS timestamp FROM n;",
        )
        .unwrap();
        assert_eq!(problems(&c, v), r#"view "vpdq_frames" (ours is a table)"#);

        // Our trigger's name, another body.
        let c = db(schema::MIGRATIONS.len());
        c.execute_batch(
            "DROP TRIGGER entries_gen_insert;
             CREATE TRIGGER entries_gen_insert AFTER INSERT ON entries BEGIN DELETE FROM entries; END;",
        )
        .unwrap();
        assert_eq!(
            problems(&c, v),
            r#"trigger "entries_gen_insert" on "entries" (definition changed)"#
        );

        // A column added to one of our tables.
        let c = db(schema::MIGRATIONS.len());
        c.execute_batch("ALTER TABLE lists ADD COLUMN extra TEXT")
            .unwrap();
        assert_eq!(problems(&c, v), r#"table "lists" (definition changed)"#);

        // A version-2 file holding version 4's objects is not a version-2 file.
        let c = db(schema::MIGRATIONS.len());
        assert!(problems(&c, 2).contains(r#"table "index_generation" (not ours)"#));

        // Unversioned with a view and no table: not ours either.
        let c = db(0);
        c.execute_batch("CREATE VIEW v AS SELECT 1").unwrap();
        assert_eq!(problems(&c, 0), r#"view "v" (not ours)"#);
    }
}
