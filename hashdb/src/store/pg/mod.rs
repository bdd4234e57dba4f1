//! The PostgreSQL backend: the same lists, entries, allowlist, tokens and
//! HMA content items as the SQLite store, on a server that many processes
//! on many machines share (`--db postgresql://user@host/db`).
//!
//! Same semantics, kept the same way:
//! * **Writers are serialised**, as SQLite's `BEGIN IMMEDIATE` does: every
//!   write transaction first takes one transaction-scoped advisory lock
//!   (waiting at most the busy timeout, PostgreSQL's `lock_timeout`;
//!   past it: [`StoreError::Locked`]). So ids are committed in increasing
//!   order, which the change log relies on (`changes.rs`: new entries are
//!   the ids above the cursor), and a merge-on-import never races another.
//! * **One commit path** ([`PgStore::commit`]) bumps `store_state`: the
//!   data version (every write) and the index generation (writes that
//!   change what matches), and sends `NOTIFY hashsieve_changes`, delivered
//!   by PostgreSQL only if the transaction commits. Servers `LISTEN` on it
//!   (`listen.rs`) and read the change log at once.
//! * **Versioned migrations** (`schema.rs`), one transaction under an
//!   advisory lock; a newer schema is refused ([`OpenError::TooNew`]).
//! * **Threads**: the client is synchronous; in an async service run it
//!   on blocking threads (`spawn_blocking`), as the SQLite store is.
//! * **Time limits**: `statement_timeout` is the statement time limit
//!   (PostgreSQL counts a statement's whole run, not only a stall), and a
//!   statement past it is [`StoreError::Stalled`].
//!
//! The saved index files next to an SQLite database (`snapshot.rs`) are
//! kept on each machine instead, with the change log position they were
//! read at, and a later load catches up from the log (`saved.rs`).
//!
//! TLS to the server as libpq has it (`sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`; `tls.rs`). Not as on SQLite: the schema check of SQLite
//! files (`schema_check.rs`) has none: a PostgreSQL server is not a file
//! handed around. The password may come from the URL or
//! `$PGPASSWORD`; it is never shown ([`DbTarget::display_path`]).
//!
//! Threading: one connection, used from one thread at a time (`RefCell`:
//! the store's read methods take `&self`). A callback of a `for_each_*`
//! method must not use the same store (it gets [`StoreError::Invalid`],
//! not a panic).

mod changes;
mod entries;
mod hma_config;
pub mod listen;
mod lists;
mod misc;
mod runs;
mod saved;
pub mod schema;
pub mod tls;
pub use saved::PdqChange;
#[cfg(test)]
pub(crate) mod throwaway;

use std::cell::{RefCell, RefMut};
use std::path::{Path, PathBuf};

use postgres::{Client, Config, Transaction};

use super::{Create, DbTarget, OpenOptions};
use crate::error::{OpenError, StoreError};

/// The advisory lock every write transaction takes ("hashsiev").
const WRITE_LOCK: i64 = 0x6861_7368_7369_6576;
/// The advisory lock of migrations ("hsmigrat").
const MIGRATE_LOCK: i64 = 0x6873_6d69_6772_6174;

/// How long connecting may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a committed write changed (see [`PgStore::commit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// Something that decides matches (an entry's list, type, value,
    /// quality or status; any list): a new index generation.
    Index,
    /// Only details (labels, notes, tokens, content items).
    Data,
}

/// The PostgreSQL backend: one connection.
pub(crate) struct PgStore {
    // Taken out only by `Drop` (closing blocks on the client's runtime).
    client: RefCell<Option<Client>>,
    target: DbTarget,
    shown: PathBuf,
}

/// Why [`connect`] failed.
pub(crate) enum ConnectError {
    /// The URL's TLS options, or their files.
    Tls(tls::TlsError),
    /// The driver: a bad URL, no server, refused, or the TLS handshake.
    Pg(postgres::Error),
}

/// Connect to `url`, with TLS as its options ask (`tls.rs`).
pub(crate) fn connect(url: &str, opts: &OpenOptions) -> Result<Client, ConnectError> {
    let (rest, settings) = tls::split(url).map_err(ConnectError::Tls)?;
    let mut cfg = config(&rest, opts).map_err(ConnectError::Pg)?;
    let unix_only = !cfg.get_hosts().is_empty()
        && cfg
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, postgres::config::Host::Tcp(_)));
    // libpq ignores sslmode on unix sockets (the server has no TLS there);
    // the driver would ask, and with `require` fail.
    cfg.ssl_mode(if unix_only {
        postgres::config::SslMode::Disable
    } else {
        settings.mode.driver()
    });
    let make = tls::connector(&settings).map_err(ConnectError::Tls)?;
    cfg.connect(make)
        .map_err(|e| match tls::handshake_error(&e, &settings) {
            Some(t) => ConnectError::Tls(t),
            None => ConnectError::Pg(e),
        })
}

/// The connection settings of `url` (without its TLS options, see
/// [`connect`]), with `$PGPASSWORD` when the URL has no password.
fn config(url: &str, opts: &OpenOptions) -> Result<Config, postgres::Error> {
    let mut cfg: Config = url.parse()?;
    if cfg.get_password().is_none() {
        if let Some(p) = std::env::var_os("PGPASSWORD") {
            cfg.password(p.as_encoded_bytes());
        }
    }
    cfg.connect_timeout(CONNECT_TIMEOUT);
    cfg.application_name("hashsieve");
    // Server-side limits for every statement of this session: the busy
    // timeout bounds lock waits, the statement limit whole statements.
    let mut options = format!("-c lock_timeout={}", opts.busy_timeout.as_millis());
    options.push_str(&format!(
        " -c statement_timeout={}",
        opts.statement_timeout.as_millis()
    ));
    cfg.options(&options);
    Ok(cfg)
}

impl PgStore {
    /// Connect to `url` and bring its schema to this build's version
    /// (creating it, with [`Create::IfMissing`]).
    pub(crate) fn open(url: &str, opts: OpenOptions) -> Result<PgStore, OpenError> {
        if in_async_runtime() {
            // Connecting blocks (see `in_async_runtime`): on a thread of
            // its own, so that a service may open stores anywhere.
            return std::thread::scope(|s| {
                s.spawn(|| Self::open_here(url, opts))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            });
        }
        Self::open_here(url, opts)
    }

    fn open_here(url: &str, opts: OpenOptions) -> Result<PgStore, OpenError> {
        let target = DbTarget::Postgres(url.to_string());
        let shown = target.display_path();
        let pg = |source: postgres::Error| {
            if source.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                OpenError::Locked {
                    path: shown.clone(),
                    waited_ms: opts.busy_timeout.as_millis() as u64,
                }
            } else {
                OpenError::Postgres {
                    path: shown.clone(),
                    source,
                }
            }
        };
        let mut client = connect(url, &opts).map_err(|e| match e {
            ConnectError::Pg(e) => pg(e),
            ConnectError::Tls(problem) => OpenError::Tls {
                path: shown.clone(),
                problem,
            },
        })?;
        let version = read_version(&mut client).map_err(pg)?;
        let mut store = PgStore {
            client: RefCell::new(Some(client)),
            target,
            shown: shown.clone(),
        };
        match version {
            Some(v) if v > schema::CURRENT_VERSION => {
                return Err(OpenError::TooNew {
                    path: shown,
                    found: v,
                    supported: schema::CURRENT_VERSION,
                })
            }
            Some(v) if v == schema::CURRENT_VERSION => return Ok(store),
            None if opts.create == Create::Never => return Err(OpenError::Missing { path: shown }),
            _ => {}
        }
        store.migrate().map_err(|e| match e {
            MigrateError::Pg(e) => pg(e),
            MigrateError::Open(e) => e,
        })?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), MigrateError> {
        let Some(client) = self.client.get_mut() else {
            return Ok(());
        };
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        let ours = table_exists(&mut tx, "hashsieve_schema")?;
        if !ours {
            // A database holding other tables is someone else's.
            let others: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                    &[],
                )?
                .try_get(0)?;
            if others > 0 {
                return Err(MigrateError::Open(OpenError::Foreign {
                    path: self.shown.clone(),
                }));
            }
        }
        tx.batch_execute(schema::BOOTSTRAP)?;
        // Another process may have migrated while we waited for the lock.
        let version: i64 = tx
            .query_one("SELECT version FROM hashsieve_schema WHERE id = 1", &[])?
            .try_get(0)?;
        if version > schema::CURRENT_VERSION {
            return Err(MigrateError::Open(OpenError::TooNew {
                path: self.shown.clone(),
                found: version,
                supported: schema::CURRENT_VERSION,
            }));
        }
        for (i, m) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(m)?;
            tx.execute(
                "UPDATE hashsieve_schema SET version = $1 WHERE id = 1",
                &[&((i + 1) as i64)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The connection, for one operation (never held across calls).
    pub(super) fn client(&self) -> Result<RefMut<'_, Client>, StoreError> {
        let c = self
            .client
            .try_borrow_mut()
            .map_err(|_| StoreError::Invalid {
                field: "store",
                message: "the PostgreSQL store was used from inside one of its own callbacks"
                    .into(),
            })?;
        RefMut::filter_map(c, Option::as_mut).map_err(|_| StoreError::Invalid {
            field: "store",
            message: "the PostgreSQL connection was closed".into(),
        })
    }

    /// A write transaction: writers queue on one advisory lock, as SQLite's
    /// `BEGIN IMMEDIATE` makes them (see the module docs).
    pub(super) fn write_tx(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        Ok(tx)
    }

    /// Commit a write: bump the data version (and the index generation
    /// for [`Touch::Index`]) and notify the listening servers, all in the
    /// transaction, so that nothing is announced that did not commit.
    pub(super) fn commit(mut tx: Transaction<'_>, touch: Touch) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE store_state SET data_version = data_version + 1,
                 generation = CASE WHEN $1 THEN
                     ('x' || md5(random()::text || clock_timestamp()::text))::bit(64)::bigint
                     ELSE generation END
             WHERE id = 1",
            &[&(touch == Touch::Index)],
        )?;
        tx.execute("SELECT pg_notify($1, '')", &[&schema::CHANNEL])?;
        tx.commit()?;
        Ok(())
    }

    /// Whether the connection is gone (noticed by its last use).
    pub(crate) fn is_closed(&self) -> bool {
        self.client
            .try_borrow()
            .is_ok_and(|c| c.as_ref().is_none_or(Client::is_closed))
    }

    pub(crate) fn target(&self) -> &DbTarget {
        &self.target
    }

    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// SQLite's page cache has no per-connection counterpart here.
    pub fn set_cache_kib(&self, _kib: u32) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .client()?
            .query_one("SELECT version FROM hashsieve_schema WHERE id = 1", &[])?
            .try_get(0)?)
    }
}

/// Whether this thread belongs to a tokio runtime. The synchronous client
/// blocks on a runtime of its own, which tokio forbids (a panic) on a
/// thread that drives async tasks; a runtime's blocking threads
/// (`spawn_blocking`, where the service runs its store work) may, but tokio
/// does not tell the two apart, so opening and closing, which a service
/// does anywhere, move to a thread of their own in both. Queries must run
/// on a blocking thread.
fn in_async_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Run `f`, which blocks on the client's own runtime, where that may
/// happen: on a worker thread of a multi-threaded tokio runtime (an async
/// handler of the service reading an entry's details) through
/// `block_in_place`, which hands the worker's other tasks to other threads
/// first; anywhere else as it is.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Drop for PgStore {
    /// Closing the connection blocks on the client's runtime: from an
    /// async task (a service dropping its state at shutdown) that must
    /// happen on a thread of its own.
    fn drop(&mut self) {
        let client = self.client.get_mut().take();
        if in_async_runtime() {
            let _ = std::thread::spawn(move || drop(client)).join();
        } else {
            drop(client);
        }
    }
}

enum MigrateError {
    Pg(postgres::Error),
    Open(OpenError),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Pg(e)
    }
}

fn table_exists(tx: &mut Transaction<'_>, name: &str) -> Result<bool, postgres::Error> {
    tx.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                        WHERE schemaname = current_schema() AND tablename = $1)",
        &[&name],
    )?
    .try_get(0)
}

/// The schema version, `None` when the database has no schema of ours.
fn read_version(client: &mut Client) -> Result<Option<i64>, postgres::Error> {
    let mut tx = client.transaction()?;
    if !table_exists(&mut tx, "hashsieve_schema")? {
        return Ok(None);
    }
    let v = tx
        .query_opt("SELECT version FROM hashsieve_schema WHERE id = 1", &[])?
        .map(|r| r.try_get(0))
        .transpose()?;
    tx.commit()?;
    Ok(v)
}
