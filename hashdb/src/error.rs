//! Error types, one per kind of operation, so callers can tell a locked
//! database from a missing list from a bad line without parsing messages.

use std::path::PathBuf;

use crate::model::EntryId;

/// Opening (or creating) a store failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No database at the path (no file, or an empty one), and the caller
    /// asked not to create one ([`crate::store::Create::Never`]).
    #[error(
        "{path}: no hashsieve database there (no such file, or an empty one); nothing was created"
    )]
    Missing { path: PathBuf },
    /// The file exists but is not an SQLite database.
    #[error("{path}: not a hashsieve database (not an SQLite file); left untouched")]
    NotADatabase { path: PathBuf },
    /// Written by a newer hashsieve; we will not guess at its schema.
    #[error("{path}: database schema version {found} is newer than this hashsieve supports ({supported}); upgrade hashsieve")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// An SQLite database, but not one of ours (foreign tables, no version).
    #[error(
        "{path}: an SQLite database, but not a hashsieve one (has tables and no schema version)"
    )]
    Foreign { path: PathBuf },
    /// Tables, views, indexes or triggers that are not ours for the
    /// schema version (a damaged or hostile file): nothing of it was read
    /// or run.
    #[error("{path}: refusing a database whose schema (version {version}) is not hashsieve's: {objects}")]
    UnexpectedSchema {
        path: PathBuf,
        version: i64,
        /// The objects, described (`trigger "x" on "entries" (not ours)`).
        objects: String,
    },
    /// A statement made no progress for the statement time limit.
    #[error("{path}: a database statement made no progress for {limit_ms} ms and was stopped (a damaged or hostile database?)")]
    Stalled { path: PathBuf, limit_ms: u64 },
    /// Another process holds the lock longer than the busy timeout.
    #[error("{path}: database is locked by another process (waited {waited_ms} ms)")]
    Locked { path: PathBuf, waited_ms: u64 },
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The URL's TLS options (`sslmode`, `sslrootcert`, ...) or their
    /// files are unusable (nothing was sent to the server), or the TLS
    /// handshake failed. (`problem` is in the message and not a `source`,
    /// so a printed error chain says it once.)
    #[error("{path}: {problem}")]
    Tls {
        path: PathBuf,
        problem: crate::store::pg::tls::TlsError,
    },
    /// PostgreSQL failed (cannot connect, refused, or a statement failed);
    /// `path` is the URL without its password.
    #[error("{path}: {source}")]
    Postgres {
        path: PathBuf,
        #[source]
        source: postgres::Error,
    },
}

/// A store operation failed. Write operations are transactional: after an
/// error the database is as it was before the call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no list named {0:?}")]
    NoSuchList(String),
    #[error("a list named {0:?} already exists")]
    ListExists(String),
    #[error("no entry with id {0}")]
    NoSuchEntry(EntryId),
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Another process held the write lock longer than the busy timeout.
    #[error("database is locked by another process (gave up after the busy timeout)")]
    Locked,
    /// A statement made no progress for the statement time limit
    /// (`OpenOptions::statement_timeout`) and was stopped.
    #[error("a database statement made no progress within the statement time limit and was stopped (a damaged or hostile database?)")]
    Stalled,
    /// The stored data does not decode (a damaged or hand-edited file).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[source] postgres::Error),
}

/// A list file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A line (or CSV record, 1-based line number) is invalid.
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    /// The file as a whole is unusable (no header, unknown format, ...).
    #[error("{0}")]
    File(String),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Importing a file into a list failed; the list is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            StoreError::Locked
        } else if crate::store::is_interrupt(&e) {
            StoreError::Stalled
        } else {
            StoreError::Sqlite(e)
        }
    }
}

impl From<postgres::Error> for StoreError {
    /// A lock wait past `lock_timeout` (the busy timeout) is
    /// [`StoreError::Locked`] and a statement past `statement_timeout` is
    /// [`StoreError::Stalled`], as on SQLite.
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => StoreError::Locked,
            Some(c) if *c == SqlState::QUERY_CANCELED => StoreError::Stalled,
            _ => StoreError::Postgres(e),
        }
    }
}
