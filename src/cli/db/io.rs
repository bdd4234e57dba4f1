//! `db import` and `db export`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hashdb::formats::{self, Format, Writer};
use hashdb::model::Status;
use hashdb::store::ImportOptions;
use hashsieve::escape::escape_display;

use super::DbLocation;

mod tmk_io;

/// A list format of `db import` / `db export`: one of hashdb's text
/// formats, `tmk` (binary `.tmk` files, one video each: a file, or a
/// folder of them), or `tmk-text` (bare TMK+PDQF values one a line, in
/// either text form the exchanges use: see `hashdb::tmk::TmkTextForm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Text(Format),
    Tmk,
    TmkText,
}

impl std::str::FromStr for ListFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tmk" | "tmk_pdqf" => return Ok(ListFormat::Tmk),
            "tmk-text" | "tmk_text" => return Ok(ListFormat::TmkText),
            _ => {}
        }
        s.parse::<Format>()
            .map(ListFormat::Text)
            .map_err(|e| format!("{e} (or tmk, tmk-text)"))
    }
}

impl std::fmt::Display for ListFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListFormat::Text(t) => t.fmt(f),
            ListFormat::Tmk => f.write_str("tmk"),
            ListFormat::TmkText => f.write_str("tmk-text"),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The list to import into (must exist: `db list-create`).
    pub list: String,
    /// Files to import (`-` = standard input). Each file is one
    /// transaction. A `.tmk` file (TMK+PDQF, recognised by content, as
    /// NCMEC serves its TMK_PDQF fingerprints) is one video; a folder
    /// imports every `.tmk` file under it, in one transaction (each entry's
    /// external id is its file name without `.tmk`). A text file of bare
    /// TMK+PDQF values (base64 of a `.tmk`, or ThreatExchange's
    /// `TMK1FVECPDQF|...`) is recognised by content too.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// pdq, signal, csv, te-csv, vpdq, jsonl, tmk or tmk-text (default:
    /// detected from content).
    #[arg(long)]
    pub format: Option<ListFormat>,
    /// Import the valid lines and report how many were skipped, instead of
    /// failing on the first bad line.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Labels to add to every imported entry (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The list to export.
    pub list: String,
    /// pdq, signal, csv, te-csv, vpdq, jsonl, tmk (the list's TMK+PDQF
    /// entries as `.tmk` files in the folder --output, named by their
    /// external id when it is a plain file name, else `entry-<id>.tmk`),
    /// or tmk-text (those entries as base64 of their `.tmk`, one a line).
    #[arg(long, default_value = "jsonl")]
    pub format: ListFormat,
    /// Write here instead of standard output (with `--format tmk`: the
    /// folder, created if missing).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also export disabled and disputed entries (always on for jsonl,
    /// which is lossless).
    #[arg(long)]
    pub include_inactive: bool,
    /// Also export derived entries (labelled `derived:...`: the hashes of
    /// views and of crops or turns stored by `db add --with-views` or
    /// `--derive`). They are not hashes of the media as published, so
    /// every format but jsonl (lossless, the labels included) leaves them
    /// out unless asked.
    #[arg(long)]
    pub include_derived: bool,
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )));
    }
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

pub fn import(loc: &DbLocation, a: ImportArgs) -> anyhow::Result<u8> {
    let mut store = loc.open()?;
    // Fail before reading anything if the list is missing.
    store.list(&a.list)?;
    let opts = ImportOptions {
        skip_invalid: a.skip_invalid,
    };
    for path in &a.files {
        let is_dir = path.as_os_str() != "-" && path.is_dir();
        let mut input: Box<dyn BufRead> = if is_dir {
            Box::new(std::io::empty())
        } else {
            open_input(path)?
        };
        let format = match a.format {
            _ if is_dir => ListFormat::Tmk,
            Some(f) => f,
            None => {
                let head = input
                    .fill_buf()
                    .with_context(|| format!("{}: read error", path.display()))?;
                let named_tmk = path
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("tmk"));
                match tmk_io::sniff(head) {
                    Some(f) => f,
                    None if named_tmk => ListFormat::Tmk,
                    None => ListFormat::Text(
                        formats::detect(head).with_context(|| format!("{}", path.display()))?,
                    ),
                }
            }
        };
        let records: formats::Records<'_> = match format {
            ListFormat::Text(f) => {
                formats::read(f, input).with_context(|| format!("{}", path.display()))?
            }
            ListFormat::Tmk if is_dir => Box::new(tmk_io::folder_records(path)?.into_iter()),
            ListFormat::Tmk => Box::new(std::iter::once(tmk_io::file_record(path, input))),
            ListFormat::TmkText => Box::new(tmk_io::text_records(input)),
        };
        let labels = a.labels.clone();
        let records = records.map(move |r| {
            r.map(|mut r| {
                r.labels.extend(labels.iter().cloned());
                r
            })
        });
        let sum = store
            .import(&a.list, records, path, opts)
            .with_context(|| {
                format!(
                    "importing into {:?} (nothing from this file was imported)",
                    a.list
                )
            })?;
        // The skipped lines' errors quote the file's content.
        let shown = escape_display(path.display());
        for e in &sum.skipped_errors {
            eprintln!("hashsieve: warning: {shown}: skipped {}", escape_display(e));
        }
        if sum.skipped as usize > sum.skipped_errors.len() {
            eprintln!(
                "hashsieve: warning: {shown}: ... and {} more skipped lines",
                sum.skipped as usize - sum.skipped_errors.len()
            );
        }
        println!(
            "{}",
            serde_json::json!({
                "file": path.to_string_lossy(), "list": a.list, "format": format.to_string(),
                "added": sum.added, "merged": sum.merged, "unchanged": sum.unchanged,
                "skipped": sum.skipped,
            })
        );
    }
    Ok(0)
}

pub fn export(loc: &DbLocation, a: ExportArgs) -> anyhow::Result<u8> {
    let store = loc.open_existing()?;
    let ids = store.entry_ids(&a.list)?;
    let format = match a.format {
        ListFormat::Tmk => {
            let dir = a
                .output
                .as_deref()
                .context("--format tmk writes one file per video: give --output DIR")?;
            return tmk_io::export(&store, &a.list, &ids, dir, a.include_inactive);
        }
        ListFormat::TmkText => {
            return tmk_io::export_text(
                &store,
                &a.list,
                &ids,
                a.output.as_deref(),
                a.include_inactive,
            );
        }
        ListFormat::Text(f) => f,
    };
    let out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let all = a.include_inactive || format == Format::Jsonl;
    let derived_too = a.include_derived || format == Format::Jsonl;
    let mut w = Writer::new(format, out, &a.list)?;
    let mut derived_left = 0u64;
    for id in ids {
        let e = store.entry(id)?;
        if !all && e.status.status != Status::Active {
            continue;
        }
        if !derived_too && hashsieve::contribute::is_derived(&e.record.labels) {
            derived_left += 1;
            continue;
        }
        w.write(&e)?;
    }
    let sum = w.finish()?;
    if derived_left > 0 {
        eprintln!(
            "hashsieve: note: {derived_left} derived entries (labelled derived:...) were left out; --include-derived exports them"
        );
    }
    if sum.skipped > 0 {
        eprintln!(
            "hashsieve: warning: {} entries of other signal types cannot be written as {} and were left out",
            sum.skipped, format
        );
    }
    eprintln!("exported {} entries from {:?}", sum.written, a.list);
    Ok(0)
}
