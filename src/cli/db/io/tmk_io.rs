//! `.tmk` files in `db import` and `db export`: TMK+PDQF hashes as Meta's
//! `tmk-hash-video` writes them (and NCMEC serves them), one video per
//! file; and text files of bare TMK+PDQF values, one a line, in the text
//! forms the exchanges use (`hashdb::tmk::TmkTextForm`).

use std::io::{BufRead, Read, Write};
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

/// What the head of a file says it is, when it is TMK+PDQF: a binary
/// `.tmk` (the magics, then binary: NCMEC's large-fingerprint download is
/// such a file whatever its name), or bare values in a text form (a first
/// line starting with ThreatExchange's `TMK1FVECPDQF|` or with the base64
/// of those magics). `None`: not TMK, detect a list format instead.
pub fn sniff(head: &[u8]) -> Option<super::ListFormat> {
    const TE_PREFIX: &[u8] = b"TMK1FVECPDQF|";
    const BASE64_MAGICS: &[u8] = b"VE1LMUZWRUNQRFFG";
    let text = head
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(head)
        .trim_ascii_start();
    if text.starts_with(TE_PREFIX) || text.starts_with(BASE64_MAGICS) {
        return Some(super::ListFormat::TmkText);
    }
    // A binary file: the magics, then int32 header fields, whose high
    // bytes are zeros (a text line starting `TMK`, such as a signal line
    // `TMK_PDQF <value>`, has none).
    let binary =
        head.starts_with(b"TMK") && (head.len() <= 12 || head[12..head.len().min(32)].contains(&0));
    binary.then_some(super::ListFormat::Tmk)
}

/// Bare TMK+PDQF values, one a line (blank lines and `#` comments
/// skipped), each in either text form; a bad value is an error of its line
/// saying which form it was read as and what is wrong.
pub fn text_records(input: impl BufRead) -> impl Iterator<Item = Result<Record, ParseError>> {
    input.lines().enumerate().filter_map(|(i, line)| {
        let n = i as u64 + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return Some(Err(ParseError::Line {
                    line: n,
                    message: format!("unreadable line: {e}"),
                }))
            }
        };
        let t = line.trim().trim_start_matches('\u{feff}');
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        Some(
            TmkHash::from_text(t)
                .map(|h| Record::new(Value::Tmk(Arc::new(h))))
                .map_err(|e| ParseError::Line {
                    line: n,
                    message: format!("bad tmk_pdqf value: {e}"),
                }),
        )
    })
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

/// Call `write` with each TMK+PDQF entry of `ids` (active ones, or all
/// with `include_inactive`): its id, external id and hash. Then warn about
/// entries of other types (they cannot be written as `format`) and report
/// the count, as both exports do.
fn each_tmk_entry(
    store: &Store,
    list: &str,
    ids: &[EntryId],
    include_inactive: bool,
    format: &str,
    mut write: impl FnMut(EntryId, Option<&str>, &TmkHash) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
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
        write(id, e.record.external_id.as_deref(), h)?;
        written += 1;
    }
    if other > 0 {
        eprintln!(
            "hashsieve: warning: {other} entries of other signal types cannot be written as {format} and were left out"
        );
    }
    eprintln!("exported {written} TMK+PDQF entries from {list:?}");
    Ok(())
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
    each_tmk_entry(
        store,
        list,
        ids,
        include_inactive,
        "tmk",
        |id, external_id, h| {
            let path = dir.join(file_name(id, external_id, &mut used));
            std::fs::write(&path, h.to_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("{}", escape_display(path.display()));
            Ok(())
        },
    )?;
    Ok(0)
}

/// Write the list's TMK+PDQF entries (active ones, or all with
/// `include_inactive`) as base64 of their `.tmk`, one a line, to `output`
/// or standard output.
pub fn export_text(
    store: &Store,
    list: &str,
    ids: &[EntryId],
    output: Option<&Path>,
    include_inactive: bool,
) -> anyhow::Result<u8> {
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    each_tmk_entry(store, list, ids, include_inactive, "tmk-text", |_, _, h| {
        writeln!(out, "{}", h.to_text())?;
        Ok(())
    })?;
    out.flush()?;
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

    #[test]
    fn sniff_tells_binary_from_text_forms() {
        use super::super::ListFormat;
        let mut acc = hashdb::tmk::TmkAccumulator::new();
        acc.push(&[1.0; hashdb::tmk::FEATURE_DIM]).unwrap();
        let h = acc.finish();
        let te = h.to_text_form(hashdb::tmk::TmkTextForm::ThreatExchange);
        assert_eq!(sniff(&h.to_bytes()), Some(ListFormat::Tmk));
        assert_eq!(sniff(te.as_bytes()), Some(ListFormat::TmkText));
        assert_eq!(sniff(h.to_text().as_bytes()), Some(ListFormat::TmkText));
        assert_eq!(
            sniff(format!("\n {te}").as_bytes()),
            Some(ListFormat::TmkText)
        );
        assert_eq!(sniff(b"pdq 0000"), None);
        assert_eq!(sniff(b"tmk_pdqf TMK1FVECPDQF|AAAA"), None, "a signal line");
        assert_eq!(sniff(b"TMK_PDQF VE1LMUZWRUNQRFFGDwAAAAQAAAAgAAAA"), None);
        assert_eq!(
            sniff(&h.to_bytes()[..40]),
            Some(ListFormat::Tmk),
            "cut short"
        );
        let lines = format!("# two\n{te}\n\n{}\nTMK1FVECPDQF|AAAA\n", h.to_text());
        let got: Vec<_> = text_records(lines.as_bytes()).collect();
        assert_eq!(got.len(), 3);
        for r in &got[..2] {
            assert!(matches!(&r.as_ref().unwrap().value, Value::Tmk(x) if **x == h));
        }
        let err = got[2].as_ref().unwrap_err().to_string();
        assert!(
            err.starts_with("line 5: bad tmk_pdqf value:") && err.contains("ThreatExchange"),
            "{err}"
        );
    }
}
