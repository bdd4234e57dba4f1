//! `db show`, `db disable-entry`, `db enable-entry`, `db dispute`, `db allow`.

use hashdb::formats::JsonEntry;
use hashdb::model::{EntryId, Status, StatusChange, Value};
use hashdb::SignalType;

use super::DbLocation;

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Entry ids.
    #[arg(required = true)]
    pub ids: Vec<EntryId>,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Entry ids.
    #[arg(required = true)]
    pub ids: Vec<EntryId>,
    /// Who made the change.
    #[arg(long)]
    pub by: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DisputeArgs {
    /// The entry id.
    pub entry: EntryId,
    /// Why it is a false positive (required).
    #[arg(long)]
    pub reason: String,
    /// Who disputes it.
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct AllowArgs {
    #[command(subcommand)]
    pub command: AllowCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AllowCommand {
    /// Allowlist a hash: `db allow add pdq HEX`.
    Add {
        /// pdq, md5, sha256 or blake3.
        signal_type: SignalType,
        /// The hash (hex).
        value: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Show the allowlist (JSON Lines).
    List,
    /// Remove allowlist entries by id.
    Remove {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

fn list_name(store: &hashdb::store::Store, id: i64) -> String {
    store.list_by_id(id).map(|l| l.name).unwrap_or_default()
}

pub fn show(loc: &DbLocation, a: ShowArgs) -> anyhow::Result<u8> {
    let store = loc.open_existing()?;
    for id in a.ids {
        let e = store.entry(id)?;
        let j = JsonEntry::from_entry(&e, &list_name(&store, e.list_id));
        println!("{}", serde_json::to_string(&j)?);
    }
    Ok(0)
}

pub fn set_status(loc: &DbLocation, a: StatusArgs, status: Status) -> anyhow::Result<u8> {
    let mut store = loc.open_existing()?;
    for id in a.ids {
        let e = store.set_status(
            id,
            &StatusChange {
                status,
                by: a.by.clone(),
                reason: a.reason.clone(),
                at: None,
            },
        )?;
        eprintln!("entry {id}: {}", e.status.status);
    }
    Ok(0)
}

pub fn dispute(loc: &DbLocation, a: DisputeArgs) -> anyhow::Result<u8> {
    if a.reason.trim().is_empty() {
        anyhow::bail!("--reason must say why the entry is disputed");
    }
    let mut store = loc.open_existing()?;
    store.set_status(
        a.entry,
        &StatusChange {
            status: Status::Disputed,
            by: a.by,
            reason: Some(a.reason),
            at: None,
        },
    )?;
    eprintln!("entry {}: disputed", a.entry);
    Ok(0)
}

pub fn allow(loc: &DbLocation, a: AllowArgs) -> anyhow::Result<u8> {
    let mut store = loc.open_existing()?;
    match a.command {
        AllowCommand::Add {
            signal_type,
            value,
            note,
            by,
        } => {
            if signal_type == SignalType::Vpdq {
                anyhow::bail!("allowlist frame hashes as pdq; whole videos cannot be allowlisted");
            }
            let v = Value::parse(signal_type, &value)
                .map_err(|e| anyhow::anyhow!("bad {signal_type} hash {value:?}: {e}"))?;
            let id = store.allow(&v, note.as_deref(), by.as_deref())?;
            println!(
                "{}",
                serde_json::json!({"allowlist_id": id, "signal_type": signal_type.as_str(), "value": v.to_text()})
            );
        }
        AllowCommand::List => {
            for (a, _) in store.allowlist()? {
                println!("{}", serde_json::to_string(&a)?);
            }
        }
        AllowCommand::Remove { ids } => {
            for id in ids {
                store.disallow(id)?;
            }
        }
    }
    Ok(0)
}
