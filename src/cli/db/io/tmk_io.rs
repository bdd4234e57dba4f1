//! `.tmk` files in `db import` and `db export`: TMK+PDQF hashes as Meta's
//! `tmk-hash-video` writes them (and the exchanges hand them around), one
//! video per file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hashdb::error::ParseError;
use hashdb::model::{EntryId, Record, Status, Value};
use hashdb::store::Store;
use hashdb::tmk::TmkHash;
use hashsieve::escape::escape_display;

/// One `.tmk` file as a record (its external id: the file name without
/// `.tmk`). A file that does not read is an error naming it; it stops the
/// import unless `--skip-invalid`.
pub fn file_record(path: &Path, input: impl Read) -> Result<Record, ParseError> {
    let shown = escape_display(path.display());
    let hash = TmkHash::read_from(input).map_err(|e| ParseError::Line {
        line: 1,
        message: format!("{shown}: {e}"),
    })?;
    let mut r = Record::new(Value::Tmk(Arc::new(hash)));
    r.external_id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && s != "-");
    Ok(r)
}

/// Every `.tmk` file under `dir` (recursively, in path order), each read
/// as [`file_record`]; the n-th file is "line" n of the import's errors.
pub fn folder_records(dir: &Path) -> anyhow::Result<Vec<Result<Record, ParseError>>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.with_context(|| format!("{}: walking", dir.display()))?;
        let p = e.path();
        if e.file_type().is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("tmk")) {
            files.push(p.to_path_buf());
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{}: no .tmk file in this folder", dir.display());
    }
    Ok(files
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let read = std::fs::File::open(p)
                .map_err(|e| ParseError::Line {
                    line: i as u64 + 1,
                    message: format!("{}: {e}", escape_display(p.display())),
                })
                .and_then(|f| file_record(p, std::io::BufReader::new(f)));
            read.map_err(|e| match e {
                ParseError::Line { message, .. } => ParseError::Line {
                    line: i as u64 + 1,
                    message,
                },
                other => other,
            })
        })
        .collect())
}

/// A file name for an entry: its external id when that is a plain name
/// (letters, digits, `._-`, not starting with a dot) not used yet, else
/// `entry-<id>`.
fn file_name(id: EntryId, external_id: Option<&str>, used: &mut Vec<String>) -> String {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let name = match external_id {
        Some(x) if plain(x) && !used.iter().any(|u| u == x) => x.to_string(),
        _ => format!("entry-{id}"),
    };
    used.push(name.clone());
    format!("{name}.tmk")
}

/// Write the list's TMK+PDQF entries to `dir` as `.tmk` files (active
/// ones, or all with `include_inactive`); stdout lists the files.
pub fn export(
    store: &Store,
    list: &str,
    ids: &[EntryId],
    dir: &Path,
    include_inactive: bool,
) -> anyhow::Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut used = Vec::new();
    let (mut written, mut other) = (0u64, 0u64);
    for &id in ids {
        let e = store.entry(id)?;
        let Value::Tmk(h) = &e.record.value else {
            other += 1;
            continue;
        };
        if !include_inactive && e.status.status != Status::Active {
            continue;
        }
        let name = file_name(id, e.record.external_id.as_deref(), &mut used);
        let path = dir.join(&name);
        std::fs::write(&path, h.to_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", escape_display(path.display()));
        written += 1;
    }
    if other > 0 {
        eprintln!(
            "hashsieve: warning: {other} entries of other signal types cannot be written as tmk and were left out"
        );
    }
    eprintln!("exported {written} TMK+PDQF entries from {list:?}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_plain_unique_external_ids() {
        let mut used = Vec::new();
        assert_eq!(file_name(1, Some("chair-19"), &mut used), "chair-19.tmk");
        assert_eq!(file_name(2, Some("chair-19"), &mut used), "entry-2.tmk");
        assert_eq!(file_name(3, Some("../x"), &mut used), "entry-3.tmk");
        assert_eq!(file_name(4, Some(".hidden"), &mut used), "entry-4.tmk");
        assert_eq!(file_name(5, None, &mut used), "entry-5.tmk");
    }
}
