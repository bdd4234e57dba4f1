//! Writing the report: JSON Lines, CSV, or a human list of hits.
//!
//! One writer owns the output; it gets records as JSON values (fresh ones
//! and ones re-emitted from the resume state look the same), so every
//! format shows exactly what the JSON line holds.

use super::Line;
use crate::escape::escape;
use hashdb::formats::formula::neutralise;
use serde_json::Value;
use std::io::{self, Write};

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: the `hash` fields plus `matches`.
    Jsonl,
    /// A header and one row per record (first PDQ hash only). Text cells
    /// that a spreadsheet would run as a formula get a leading `'`
    /// ([`hashdb::formats::formula`]).
    Csv,
    /// Hits and errors only, one line each, for a person at a terminal.
    Human,
}

/// The CSV columns.
pub const CSV_COLUMNS: &[&str] = &[
    "path",
    "media",
    "bytes",
    "md5",
    "sha256",
    "blake3",
    "width",
    "height",
    "pdq",
    "pdq_quality",
    "frames",
    "matches",
    "lists",
    "suppressed",
    "error_kind",
    "error_message",
];

/// Writes records in a [`Format`].
pub struct ReportWriter<W: Write> {
    format: Format,
    matches_only: bool,
    out: W,
    csv_header_done: bool,
}

fn s(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// [`s`] made safe for a terminal (see [`crate::escape`]).
fn text(v: Option<&Value>) -> String {
    escape(&s(v)).into_owned()
}

/// [`s`] as a CSV text cell: a file or list name starting with `=`, `+`,
/// `-`, `@`, TAB or CR must not run as a formula in the analyst's
/// spreadsheet. Hashes and numbers are not passed here (they never start
/// so, and must stay as they are).
fn cell(v: Option<&Value>) -> String {
    neutralise(&s(v)).into_owned()
}

fn has_hits(rec: &Value) -> bool {
    rec.get("matches")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty())
}

fn has_error(rec: &Value) -> bool {
    rec.get("error").is_some_and(|e| !e.is_null())
}

impl<W: Write> ReportWriter<W> {
    /// A writer to `out`. With `matches_only`, records without hits and
    /// without errors are left out.
    pub fn new(format: Format, matches_only: bool, out: W) -> Self {
        ReportWriter {
            format,
            matches_only,
            out,
            csv_header_done: false,
        }
    }

    /// Write one record (or nothing, if filtered out).
    pub fn write(&mut self, line: &Line) -> io::Result<()> {
        let rec = &line.value;
        let hits = has_hits(rec);
        let err = has_error(rec);
        if self.matches_only && !hits && !err {
            return Ok(());
        }
        match self.format {
            Format::Jsonl => {
                self.out.write_all(line.text.as_bytes())?;
                self.out.write_all(b"\n")
            }
            Format::Csv => self.write_csv(rec),
            Format::Human => self.write_human(rec, hits, err),
        }
    }

    fn write_csv(&mut self, rec: &Value) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(Vec::with_capacity(512));
        if !self.csv_header_done {
            self.csv_header_done = true;
            w.write_record(CSV_COLUMNS).map_err(io::Error::other)?;
        }
        let pdq = rec.get("pdq").and_then(Value::as_array);
        let first_pdq = pdq.and_then(|a| a.first());
        let matches = rec.get("matches").and_then(Value::as_array);
        let (mut hits, mut suppressed, mut lists) = (0u64, 0u64, Vec::<String>::new());
        for m in matches.into_iter().flatten() {
            if m.get("suppressed").and_then(Value::as_bool) == Some(true) {
                suppressed += 1;
            } else {
                hits += 1;
            }
            let l = s(m.get("list"));
            if !lists.contains(&l) {
                lists.push(l);
            }
        }
        let is_video = rec.get("media").and_then(Value::as_str) == Some("video");
        let err = rec.get("error");
        let row = [
            cell(rec.get("path")),
            cell(rec.get("media")),
            s(rec.get("bytes")),
            s(rec.get("md5")),
            s(rec.get("sha256")),
            s(rec.get("blake3")),
            s(rec.get("width")),
            s(rec.get("height")),
            if is_video {
                String::new()
            } else {
                s(first_pdq.and_then(|p| p.get("hash")))
            },
            if is_video {
                String::new()
            } else {
                s(first_pdq.and_then(|p| p.get("quality")))
            },
            if is_video {
                pdq.map_or(0, |a| a.len()).to_string()
            } else {
                String::new()
            },
            hits.to_string(),
            neutralise(&lists.join(";")).into_owned(),
            suppressed.to_string(),
            cell(err.and_then(|e| e.get("kind"))),
            cell(err.and_then(|e| e.get("message"))),
        ];
        w.write_record(&row).map_err(io::Error::other)?;
        let bytes = w
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.out.write_all(&bytes)
    }

    /// One line per hit and per error. Every value from the record goes
    /// through [`escape`]: paths, member names, list names, labels and
    /// decoder messages are not ours, and a control character in them
    /// could forge or hide a line on the terminal.
    fn write_human(&mut self, rec: &Value, hits: bool, err: bool) -> io::Result<()> {
        let path = text(rec.get("path"));
        if hits {
            for m in rec
                .get("matches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let tag = if m.get("suppressed").and_then(Value::as_bool) == Some(true) {
                    "allowed"
                } else {
                    "MATCH"
                };
                let how = match (m.get("distance"), m.get("vpdq")) {
                    (_, Some(v)) if !v.is_null() => format!(
                        "{} rule, {:.0}% of listed / {:.0}% of ours",
                        text(v.get("rule")),
                        v.get("target_percent")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                        v.get("query_percent")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0)
                    ),
                    (Some(d), _) => format!("distance {}", text(Some(d))),
                    _ => String::new(),
                };
                writeln!(
                    self.out,
                    "{tag}\t{path}\t{} entry {} ({} by {}, {how}){}",
                    text(m.get("list")),
                    text(m.get("entry")),
                    text(m.get("signal_type")),
                    text(m.get("hit_by")),
                    m.get("labels")
                        .and_then(Value::as_array)
                        .filter(|l| !l.is_empty())
                        .map(|l| format!(
                            " [{}]",
                            l.iter()
                                .map(|x| text(Some(x)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .unwrap_or_default()
                )?;
            }
        }
        if err {
            let e = rec.get("error");
            writeln!(
                self.out,
                "error\t{path}\t{}: {}",
                text(e.and_then(|e| e.get("kind"))),
                text(e.and_then(|e| e.get("message")))
            )?;
        }
        Ok(())
    }

    /// Flush the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn l(v: Value) -> Line {
        Line {
            text: v.to_string(),
            value: v,
        }
    }

    fn rec() -> Value {
        json!({"path": "a,b.jpg", "media": "image", "bytes": 3, "md5": "ab", "pdq": [{"hash": "ff", "quality": 90}],
               "error": null, "matches": [{"list": "l", "entry": 4, "signal_type": "pdq", "hit_by": "pdq",
               "distance": 2, "suppressed": false, "labels": []}]})
    }

    #[test]
    fn csv_quotes_and_counts() {
        let mut w = ReportWriter::new(Format::Csv, false, Vec::new());
        w.write(&l(rec())).unwrap();
        w.write(&l(
            json!({"path": "x", "media": "other", "error": {"kind": "io", "message": "gone"}}),
        ))
        .unwrap();
        let text = String::from_utf8(w.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(lines[1], "\"a,b.jpg\",image,3,ab,,,,,ff,90,,1,l,0,,");
        assert_eq!(lines[2], "x,other,,,,,,,,,,0,,0,io,gone");
    }

    #[test]
    fn human_lines_escape_names_and_labels() {
        let mut w = ReportWriter::new(Format::Human, false, Vec::new());
        w.write(&l(
            json!({"path": "a\x1b]0;pwned\x07\nMATCH\tfake.jpg", "error": null,
            "matches": [{"list": "l\r", "entry": 4, "signal_type": "md5", "hit_by": "md5",
            "distance": 0, "suppressed": false, "labels": ["x\u{202e}y"]}]}),
        ))
        .unwrap();
        w.write(&l(
            json!({"path": "b.zip!/c\n.jpg", "error": {"kind": "decode", "message": "bad \x1b[2J"}}),
        ))
        .unwrap();
        let text = String::from_utf8(w.out).unwrap();
        assert_eq!(
            text,
            "MATCH\ta\\x1b]0;pwned\\x07\\nMATCH\\tfake.jpg\tl\\r entry 4 (md5 by md5, distance 0) [x\\u{202e}y]\n\
             error\tb.zip!/c\\n.jpg\tdecode: bad \\x1b[2J\n"
        );
    }

    #[test]
    fn csv_text_cells_cannot_be_formulas() {
        let mut w = ReportWriter::new(Format::Csv, false, Vec::new());
        w.write(&l(
            json!({"path": "=cmd.jpg", "media": "image", "md5": "ab", "error": null,
            "matches": [{"list": "@evil", "suppressed": false}]}),
        ))
        .unwrap();
        w.write(&l(
            json!({"path": "-x", "media": "other", "error": {"kind": "io", "message": "+1"}}),
        ))
        .unwrap();
        let text = String::from_utf8(w.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "'=cmd.jpg,image,,ab,,,,,,,,1,'@evil,0,,");
        assert_eq!(lines[2], "'-x,other,,,,,,,,,,0,,0,io,'+1");
    }

    #[test]
    fn matches_only_keeps_hits_and_errors() {
        let mut w = ReportWriter::new(Format::Jsonl, true, Vec::new());
        w.write(&l(json!({"path": "quiet", "error": null, "matches": []})))
            .unwrap();
        w.write(&l(rec())).unwrap();
        w.write(&l(
            json!({"path": "bad", "error": {"kind": "io", "message": "x"}}),
        ))
        .unwrap();
        let text = String::from_utf8(w.out).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("quiet"));
    }
}
