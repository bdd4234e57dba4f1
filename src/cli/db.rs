//! `hashsieve db ...`: manage the hash lists (create, import, export, add
//! your own media, disable/dispute entries, allowlist, stats).
//!
//! Each subcommand lives in `db/`; this file holds the shared arguments and
//! the dispatch. The store is `--db PATH`, else `$HASHSIEVE_DB`, else
//! `./hashsieve.db`. Only the commands that set a database up (`init`,
//! `list-create`, `import`, and `token`) create it; every other command
//! refuses a missing one, so a mistyped path is an error, not a new empty
//! database that answers "no match".

mod add;
mod entries;
mod io;
mod lists;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use hashdb::store::{Create, OpenOptions, Store};

/// Arguments shared by `db` and `match`: where the database is.
#[derive(clap::Args, Debug, Clone)]
pub struct DbLocation {
    /// The hash database: an SQLite file, or a PostgreSQL database
    /// (postgresql://user@host/db) shared by many processes (default:
    /// $HASHSIEVE_DB, else ./hashsieve.db).
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,

    /// How long to wait for another process's lock, in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000, value_name = "MS")]
    pub busy_timeout: u64,

    /// Stop a database statement that makes no progress (no row, no
    /// trigger step) for this many seconds: a damaged or hostile database
    /// cannot hang the command. 0 = no limit.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS")]
    pub statement_timeout: u64,
}

impl DbLocation {
    /// The database path after applying the defaults.
    pub fn path(&self) -> PathBuf {
        self.db
            .clone()
            .or_else(|| std::env::var_os("HASHSIEVE_DB").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("hashsieve.db"))
    }

    /// Open options for a command that reads lists (`match`, `serve`):
    /// the database must exist.
    pub fn options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: Duration::from_millis(self.busy_timeout),
            create: Create::Never,
            statement_timeout: Duration::from_secs(self.statement_timeout),
        }
    }

    /// Open the store, creating it if there is none: only for commands
    /// that set a database up (`db init`, `db list-create`, `db import`,
    /// `token`).
    pub fn open(&self) -> anyhow::Result<Store> {
        let opts = OpenOptions {
            create: Create::IfMissing,
            ..self.options()
        };
        Store::open_with(self.path(), opts).context("opening the hash database")
    }

    /// Open the store, which must exist.
    pub fn open_existing(&self) -> anyhow::Result<Store> {
        Store::open_with(self.path(), self.options()).context("opening the hash database")
    }
}

/// A database that would match nothing, refused by the commands that
/// match (`match`, `scan`) unless `--allow-empty` says it is intended.
#[derive(Debug, thiserror::Error)]
#[error("{path}: the hash database has no enabled list, so nothing can match; create or enable a list (`hashsieve db lists`), or pass --allow-empty if an empty database is intended")]
pub struct NoEnabledList {
    pub path: PathBuf,
}

/// Refuse `store` when it has no enabled list, unless `allow_empty`.
pub fn require_enabled_list(store: &Store, allow_empty: bool) -> anyhow::Result<()> {
    if allow_empty || store.has_enabled_list()? {
        return Ok(());
    }
    Err(NoEnabledList {
        path: store.path().to_path_buf(),
    }
    .into())
}

/// Manage the hash lists.
///
/// Lists ("banks") hold entries: PDQ, vPDQ, MD5, SHA-256 and BLAKE3 hashes
/// with labels, an external id, a note and a status (active, disabled,
/// disputed). Every write is a transaction: a failed command changes nothing.
#[derive(clap::Args, Debug)]
pub struct DbArgs {
    #[command(flatten)]
    pub location: DbLocation,

    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Create the database (or check an existing one) and print its path.
    Init,
    /// Create a list.
    ListCreate(lists::ListCreateArgs),
    /// Change a list's settings (thresholds, gates, video rules, source, description).
    ListUpdate(lists::ListUpdateArgs),
    /// Delete a list and all its entries.
    ListDelete(lists::ListDeleteArgs),
    /// Show the lists.
    Lists(lists::ListsArgs),
    /// Enable a list (its entries are matched).
    Enable(lists::ListNameArg),
    /// Disable a list (kept, never matched).
    Disable(lists::ListNameArg),
    /// Import list files (format detected from content unless --format).
    Import(io::ImportArgs),
    /// Export a list.
    Export(io::ExportArgs),
    /// Hash media files and add their hashes to a list.
    Add(add::AddArgs),
    /// Show entries by id (JSON Lines).
    Show(entries::ShowArgs),
    /// Disable entries (kept for the record, never matched).
    DisableEntry(entries::StatusArgs),
    /// Re-activate disabled or disputed entries.
    EnableEntry(entries::StatusArgs),
    /// Mark an entry as disputed (a false positive): not matched.
    Dispute(entries::DisputeArgs),
    /// Manage the allowlist (hashes that are never flagged).
    Allow(entries::AllowArgs),
    /// Entry counts per list, signal type and status.
    Stats(lists::ListsArgs),
}

/// Run `hashsieve db`.
pub fn run(args: DbArgs) -> anyhow::Result<u8> {
    let loc = &args.location;
    match args.command {
        DbCommand::Init => {
            let store = loc.open()?;
            println!(
                "{}: hashsieve database, schema version {}",
                hashsieve::escape::escape_display(store.path().display()),
                store.schema_version()?
            );
            Ok(0)
        }
        DbCommand::ListCreate(a) => lists::create(loc, a),
        DbCommand::ListUpdate(a) => lists::update(loc, a),
        DbCommand::ListDelete(a) => lists::delete(loc, a),
        DbCommand::Lists(a) => lists::show(loc, a, false),
        DbCommand::Stats(a) => lists::show(loc, a, true),
        DbCommand::Enable(a) => lists::set_enabled(loc, a, true),
        DbCommand::Disable(a) => lists::set_enabled(loc, a, false),
        DbCommand::Import(a) => io::import(loc, a),
        DbCommand::Export(a) => io::export(loc, a),
        DbCommand::Add(a) => add::run(loc, a),
        DbCommand::Show(a) => entries::show(loc, a),
        DbCommand::DisableEntry(a) => entries::set_status(loc, a, hashdb::model::Status::Disabled),
        DbCommand::EnableEntry(a) => entries::set_status(loc, a, hashdb::model::Status::Active),
        DbCommand::Dispute(a) => entries::dispute(loc, a),
        DbCommand::Allow(a) => entries::allow(loc, a),
    }
}
