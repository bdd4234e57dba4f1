//! The schema, as typed constants, and its forward migrations.
//!
//! `PRAGMA user_version` holds the schema version. Migration `i` (index in
//! [`MIGRATIONS`]) takes a database from version `i` to `i + 1`; they run in
//! one transaction at open. A database with a higher version than
//! [`CURRENT_VERSION`] was written by a newer hashsieve and is refused.

/// Schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Table names (used in error messages and queries).
pub const LISTS: &str = "lists";
pub const ENTRIES: &str = "entries";
pub const LABELS: &str = "entry_labels";
pub const FRAMES: &str = "vpdq_frames";
pub const ALLOWLIST: &str = "allowlist";

/// Forward migrations, oldest first.
pub const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V3,
    V4,
    V5_HMA_CONTENT,
    V6_TOKEN_EXPIRY,
    V7_TMK,
    V8_SCAN_RUNS,
    V9_HMA_CONFIG,
    V10_HMA_ITEMS,
    V11_HMA_FETCH,
    V12_ALLOWLIST_LOG,
];

/// Version 1: lists, entries with labels and vPDQ frames, the allowlist.
const V1: &str = "
CREATE TABLE lists (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    description   TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL DEFAULT 'local',
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    pdq_threshold INTEGER NOT NULL DEFAULT 31 CHECK (pdq_threshold BETWEEN 0 AND 256),
    pdq_quality   INTEGER NOT NULL DEFAULT 50 CHECK (pdq_quality BETWEEN 0 AND 100),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    signal_type   TEXT    NOT NULL CHECK (signal_type IN ('pdq', 'vpdq', 'md5', 'sha256', 'blake3')),
    value         BLOB    NOT NULL,
    quality       INTEGER CHECK (quality BETWEEN 0 AND 100),
    external_id   TEXT,
    note          TEXT,
    added_at      INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'disputed')),
    status_by     TEXT,
    status_reason TEXT,
    status_at     INTEGER,
    UNIQUE (list_id, signal_type, value)
);
CREATE TABLE entry_labels (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    label    TEXT    NOT NULL,
    PRIMARY KEY (entry_id, label)
) WITHOUT ROWID;
CREATE TABLE vpdq_frames (
    entry_id  INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    frame     INTEGER NOT NULL,
    quality   INTEGER NOT NULL CHECK (quality BETWEEN 0 AND 100),
    hash      BLOB    NOT NULL CHECK (length(hash) = 32),
    timestamp REAL    NOT NULL,
    PRIMARY KEY (entry_id, frame)
) WITHOUT ROWID;
CREATE TABLE allowlist (
    id          INTEGER PRIMARY KEY,
    signal_type TEXT    NOT NULL CHECK (signal_type IN ('pdq', 'md5', 'sha256', 'blake3')),
    value       BLOB    NOT NULL,
    note        TEXT,
    added_by    TEXT,
    added_at    INTEGER NOT NULL,
    UNIQUE (signal_type, value)
);
";

/// Version 2: API tokens of `hashsieve serve` (hashes of the secrets only),
/// and an index on `status_at` (the service polls for recent status changes).
const V2: &str = "
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes     TEXT    NOT NULL,
    note       TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS entries_status_at ON entries(status_at);
";

/// Version 3: each list's vPDQ rules, next to its PDQ threshold and quality
/// gate. A listed video matches when at least `vpdq_target_percent` of its
/// unique frames are matched (the vPDQ rule), or when at least
/// `vpdq_query_percent` of the query's unique frames are matched and at
/// least `vpdq_min_clip_frames` of them (the clip rule: a reposted
/// excerpt). Existing lists get the defaults (80, 80, 5), which are the
/// values the scanner applied globally before.
const V3: &str = "
ALTER TABLE lists ADD COLUMN vpdq_target_percent REAL NOT NULL DEFAULT 80
    CHECK (vpdq_target_percent BETWEEN 0 AND 100);
ALTER TABLE lists ADD COLUMN vpdq_query_percent REAL NOT NULL DEFAULT 80
    CHECK (vpdq_query_percent BETWEEN 0 AND 100);
ALTER TABLE lists ADD COLUMN vpdq_min_clip_frames INTEGER NOT NULL DEFAULT 5
    CHECK (vpdq_min_clip_frames >= 0);
";

/// Version 4: a generation value that every change of what the PDQ index
/// is built from (an entry added, deleted, or changed in status, value,
/// quality or list; any change of a list) replaces with a fresh random
/// 64-bit number, by trigger, so that no writer can forget it. A saved copy
/// of the index rows (see `store::snapshot`) is used only while the
/// generation it was saved at is still the database's. Random rather than
/// a counter: two copies of a database that went separate ways after being
/// copied would reach the same count with different contents, but not the
/// same random value.
const V4: &str = "
CREATE TABLE index_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO index_generation (id, value) VALUES (1, random());
CREATE TRIGGER entries_gen_insert AFTER INSERT ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER entries_gen_delete AFTER DELETE ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER entries_gen_update
AFTER UPDATE OF list_id, signal_type, value, quality, status ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER lists_gen_insert AFTER INSERT ON lists
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER lists_gen_delete AFTER DELETE ON lists
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER lists_gen_update AFTER UPDATE ON lists
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
";

/// HMA 2.0 content items (`hashsieve serve`'s `/c/bank/<bank>/content`):
/// one HMA content id for all the signals of one banked photo or video.
/// A content item's id is the id of its first entry; the entries of its
/// other signals (a video's vPDQ next to its MD5) point to it. An entry
/// with no row here is its own content item (lists imported by other
/// means). The item's note, metadata (JSON text) and HMA's
/// `disable_until_ts` (0 disabled, 1 enabled, else disabled until that
/// Unix time) live here; deleting the first entry deletes the item. Each
/// list also keeps HMA's fractional `matching_enabled_ratio`.
const V5_HMA_CONTENT: &str = "
CREATE TABLE hma_contents (
    id               INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    note             TEXT CHECK (note IS NULL OR length(note) <= 255),
    metadata         TEXT,
    disable_until_ts INTEGER NOT NULL DEFAULT 1 CHECK (disable_until_ts >= 0)
);
CREATE TABLE hma_content_entries (
    entry_id   INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    content_id INTEGER NOT NULL REFERENCES hma_contents(id) ON DELETE CASCADE
);
CREATE INDEX hma_content_entries_by_content ON hma_content_entries(content_id);
ALTER TABLE lists ADD COLUMN hma_enabled_ratio REAL NOT NULL DEFAULT 1
    CHECK (hma_enabled_ratio BETWEEN 0 AND 1);
";

/// Version 7: TMK+PDQF (`tmk_pdqf`) entries. The signal type's CHECK is
/// part of the `entries` table, so the table is rebuilt with the new list
/// (rows copied as they are, ids kept, so every table that refers to an
/// entry still does; its index and triggers made again). A TMK entry's
/// `value` is a BLAKE3 digest of its `.tmk` file (the unique key, as for
/// vPDQ); the hash itself lives in two tables: `tmk_features` the
/// pure-average feature that level-1 compares (1 KiB a row, all the
/// matching index keeps in memory) and `tmk_files` the whole `.tmk` file
/// (263,344 bytes, read when a candidate passes level-1, and exported as
/// is). Each list gets its TMK+PDQF thresholds (the reference's 0.7/0.7 by
/// default). Migrations run with foreign key enforcement off (SQLite's
/// documented procedure for a rebuild: a `DROP TABLE` would otherwise
/// cascade into the tables that refer to it), and the store checks
/// `PRAGMA foreign_key_check` before committing.
const V7_TMK: &str = "
CREATE TABLE entries_v6 (
    id            INTEGER PRIMARY KEY,
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    signal_type   TEXT    NOT NULL CHECK (signal_type IN ('pdq', 'vpdq', 'md5', 'sha256', 'blake3', 'tmk_pdqf')),
    value         BLOB    NOT NULL,
    quality       INTEGER CHECK (quality BETWEEN 0 AND 100),
    external_id   TEXT,
    note          TEXT,
    added_at      INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'disputed')),
    status_by     TEXT,
    status_reason TEXT,
    status_at     INTEGER,
    UNIQUE (list_id, signal_type, value)
);
INSERT INTO entries_v6 (id, list_id, signal_type, value, quality, external_id, note, added_at,
                        status, status_by, status_reason, status_at)
    SELECT id, list_id, signal_type, value, quality, external_id, note, added_at,
           status, status_by, status_reason, status_at FROM entries;
DROP TABLE entries;
ALTER TABLE entries_v6 RENAME TO entries;
CREATE INDEX IF NOT EXISTS entries_status_at ON entries(status_at);
CREATE TRIGGER entries_gen_insert AFTER INSERT ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER entries_gen_delete AFTER DELETE ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER entries_gen_update
AFTER UPDATE OF list_id, signal_type, value, quality, status ON entries
BEGIN UPDATE index_generation SET value = random() WHERE id = 1; END;
CREATE TABLE tmk_features (
    entry_id     INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    frame_count  INTEGER NOT NULL CHECK (frame_count >= 0),
    pure_average BLOB    NOT NULL CHECK (length(pure_average) = 1024)
);
CREATE TABLE tmk_files (
    entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    tmk      BLOB    NOT NULL CHECK (length(tmk) = 263344)
);
ALTER TABLE lists ADD COLUMN tmk_level1 REAL NOT NULL DEFAULT 0.7
    CHECK (tmk_level1 BETWEEN -1 AND 2);
ALTER TABLE lists ADD COLUMN tmk_level2 REAL NOT NULL DEFAULT 0.7
    CHECK (tmk_level2 BETWEEN -1 AND 2);
";

/// Version 6: API tokens expire (`expires_at`, Unix seconds; NULL: never)
/// and remember when they were last used (`last_used_at`, written by the
/// service about once a minute per token in use).
const V6_TOKEN_EXPIRY: &str = "
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
";

/// Version 8: distributed scan runs (`scan --queue`, `hashsieve worker`;
/// see `store/runs.rs`). `scan_jobs` holds one row per input file a
/// worker committed, `scan_records` one per item (file or archive member)
/// keyed by (run, path) so a redelivered job replaces its records, and
/// `scan_workers` the workers seen. Paths and roots are bytes (roots
/// joined by NUL).
const V8_SCAN_RUNS: &str = "
CREATE TABLE scan_runs (
    name       TEXT    PRIMARY KEY,
    roots      BLOB    NOT NULL,
    queue      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0 CHECK (published >= 0),
    walk_done  INTEGER NOT NULL DEFAULT 0 CHECK (walk_done IN (0, 1))
);
CREATE TABLE scan_jobs (
    run        TEXT    NOT NULL REFERENCES scan_runs(name) ON DELETE CASCADE,
    path       BLOB    NOT NULL,
    worker     TEXT    NOT NULL,
    deliveries INTEGER NOT NULL,
    done_at    INTEGER NOT NULL,
    PRIMARY KEY (run, path)
) WITHOUT ROWID;
CREATE TABLE scan_records (
    run     TEXT    NOT NULL REFERENCES scan_runs(name) ON DELETE CASCADE,
    path    BLOB    NOT NULL,
    job     BLOB    NOT NULL,
    matches INTEGER NOT NULL CHECK (matches >= 0),
    error   TEXT,
    record  TEXT    NOT NULL,
    PRIMARY KEY (run, path)
) WITHOUT ROWID;
CREATE INDEX scan_records_job ON scan_records(run, job);
CREATE TABLE scan_workers (
    run        TEXT    NOT NULL REFERENCES scan_runs(name) ON DELETE CASCADE,
    worker     TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    jobs       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, worker)
) WITHOUT ROWID;
";

/// Version 9: HMA 2.0 settings that HMA keeps in its database (see
/// `store/hma_config.rs`): signal type ratios set through
/// `PUT /c/signal_type/<name>` (a type with no row is at 1) and the
/// configured exchanges.
const V9_HMA_CONFIG: &str = "
CREATE TABLE hma_signal_types (
    name          TEXT PRIMARY KEY,
    enabled_ratio REAL NOT NULL CHECK (enabled_ratio BETWEEN 0 AND 1)
) WITHOUT ROWID;
CREATE TABLE hma_exchanges (
    name    TEXT    PRIMARY KEY,
    api     TEXT    NOT NULL,
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    config  TEXT    NOT NULL
) WITHOUT ROWID;
";

/// Version 10: HMA content items apart from entries, so that adding a
/// hash a bank already holds makes a second item (as HMA's
/// `bank_add_content` does) while the list keeps one entry per value.
/// `hma_items` is the item (its list, note, metadata and
/// `disable_until_ts`), `hma_item_entries` which entries (signals) it
/// holds; one entry may be held by several items, and a lookup hitting it
/// answers each of them. An entry held by no item is its own item, id the
/// entry's, enabled, no note (lists that came in by `db import` or `/v1`),
/// as in version 5. Every version-5 item becomes a row here with its id
/// (clients stored those ids) and its entries.
///
/// Entries and items share one space of ids (an entry held by no item
/// answers as the item of its id), so a second item's id must be one no
/// entry will take: `id_floor` holds the highest id given to an item that
/// is no entry's (or freed by an HMA delete), and a new entry's id is one
/// above both the largest entry id and the floor (`store/entries.rs`;
/// SQLite's own choice, the largest plus one, could take it).
const V10_HMA_ITEMS: &str = "
CREATE TABLE hma_items (
    id               INTEGER PRIMARY KEY,
    list_id          INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    note             TEXT CHECK (note IS NULL OR length(note) <= 255),
    metadata         TEXT,
    disable_until_ts INTEGER NOT NULL DEFAULT 1 CHECK (disable_until_ts >= 0)
);
CREATE TABLE hma_item_entries (
    item_id  INTEGER NOT NULL REFERENCES hma_items(id) ON DELETE CASCADE,
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    PRIMARY KEY (item_id, entry_id)
) WITHOUT ROWID;
CREATE INDEX hma_item_entries_by_entry ON hma_item_entries(entry_id);
CREATE INDEX hma_items_by_list ON hma_items(list_id);
INSERT INTO hma_items (id, list_id, note, metadata, disable_until_ts)
    SELECT c.id, e.list_id, c.note, c.metadata, c.disable_until_ts
    FROM hma_contents c JOIN entries e ON e.id = c.id;
INSERT INTO hma_item_entries (item_id, entry_id) SELECT id, id FROM hma_items;
INSERT OR IGNORE INTO hma_item_entries (item_id, entry_id)
    SELECT content_id, entry_id FROM hma_content_entries;
DROP TABLE hma_content_entries;
DROP TABLE hma_contents;
CREATE TABLE id_floor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL CHECK (value >= 0)
);
INSERT INTO id_floor (id, value) VALUES (1, 0);
";

/// Version 11: fetching from HMA exchanges (`store/hma_config.rs`), as
/// HMA keeps it: the bank each exchange made when it was created
/// (`list_id`; deleting the exchange deletes that bank, as HMA's cascade
/// does; NULL for exchanges made before this version and once the bank is
/// deleted), each exchange's fetch status (HMA's `exchange_fetch_status`:
/// running since, last completion and its success, up to date, the
/// checkpoint) with what went wrong, and the fetched records (HMA's
/// `exchange_data`: one per signal, `fetch_id` its type and value key)
/// with the content item each became in the bank (NULL once that item is
/// deleted: the next fetch makes it again, as HMA's does). Existing rows
/// are kept; every exchange starts never fetched.
const V11_HMA_FETCH: &str = "
ALTER TABLE hma_exchanges ADD COLUMN list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL;
CREATE TABLE hma_exchange_status (
    name                   TEXT    PRIMARY KEY REFERENCES hma_exchanges(name) ON DELETE CASCADE,
    running_fetch_start_ts INTEGER,
    last_fetch_complete_ts INTEGER,
    last_fetch_succeeded   INTEGER CHECK (last_fetch_succeeded IN (0, 1)),
    up_to_date             INTEGER NOT NULL DEFAULT 0 CHECK (up_to_date IN (0, 1)),
    checkpoint             TEXT,
    checkpoint_ts          INTEGER,
    last_error             TEXT,
    skipped                INTEGER NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    skipped_examples       TEXT
) WITHOUT ROWID;
CREATE TABLE hma_exchange_items (
    exchange TEXT    NOT NULL REFERENCES hma_exchanges(name) ON DELETE CASCADE,
    fetch_id BLOB    NOT NULL,
    item_id  INTEGER REFERENCES hma_items(id) ON DELETE SET NULL,
    PRIMARY KEY (exchange, fetch_id)
) WITHOUT ROWID;
CREATE INDEX hma_exchange_items_by_item ON hma_exchange_items(item_id);
";

/// Version 12: the allowlist's change log. A serving process applies
/// allowlist additions and removals to its in-memory matcher one value at
/// a time (`store/changes.rs`) instead of reloading everything; a removal
/// needs the value that was removed, which the allowlist row no longer
/// holds, so each addition and removal is logged with its value, in the
/// writing transaction. Existing rows are kept and not logged: a process
/// loads the allowlist itself and reads the log from where it stood then.
/// And the ids of deleted lists: SQLite gives a new list the id of one
/// deleted at the top, so a list deleted and another created between two
/// looks would otherwise pass for the same list.
const V12_ALLOWLIST_LOG: &str = "
CREATE TABLE list_deletions (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id INTEGER NOT NULL
);
CREATE TRIGGER list_deletions_log AFTER DELETE ON lists
BEGIN INSERT INTO list_deletions (list_id) VALUES (old.id); END;
CREATE TABLE allowlist_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    allow_id    INTEGER NOT NULL,
    signal_type TEXT    NOT NULL,
    value       BLOB    NOT NULL,
    added       INTEGER NOT NULL CHECK (added IN (0, 1))
);
";
