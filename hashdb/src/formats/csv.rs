//! CSV formats: ours (`signal_type,signal_value,labels,external_id,note`,
//! labels `;`-separated, optional `quality`) and the column set of
//! `threatexchange dataset --csv` (`signal_type,signal_str,collab,category,tags`).
//! Columns are found by header name, so their order does not matter.
//!
//! Text cells (labels, tags, external id, note, collab, category) are
//! written through [`formula::neutralise`] and read through
//! [`formula::restore`]: a spreadsheet must not run them, and an export
//! must import back unchanged.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use super::{formula, line_err};
use crate::error::ParseError;
use crate::model::Record;
use crate::types::SignalType;

/// Header of our CSV.
pub const HEADER: &str = "signal_type,signal_value,labels,external_id,note,quality";
/// Header of the ThreatExchange CSV.
pub const TE_HEADER: &str = "signal_type,signal_str,collab,category,tags";

struct Columns {
    signal_type: usize,
    value: usize,
    labels: Option<usize>,
    external_id: Option<usize>,
    note: Option<usize>,
    quality: Option<usize>,
    collab: Option<usize>,
    category: Option<usize>,
}

fn open<R: Read>(input: R, value_col: &str) -> Result<(::csv::Reader<R>, Columns), ParseError> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| ParseError::File(format!("unreadable CSV header: {e}")))?
        .clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            ParseError::File(format!(
                "CSV header lacks the column {name:?} (has: {})",
                headers.iter().collect::<Vec<_>>().join(",")
            ))
        })
    };
    let cols = Columns {
        signal_type: need("signal_type")?,
        value: need(value_col)?,
        labels: find("labels"),
        external_id: find("external_id"),
        note: find("note"),
        quality: find("quality"),
        collab: find("collab"),
        category: find("category"),
    };
    Ok((rdr, cols))
}

fn opt(rec: &::csv::StringRecord, col: Option<usize>) -> Option<String> {
    col.and_then(|c| rec.get(c))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A text cell: [`opt`] without the quote our export puts before a
/// formula-like cell.
fn text(rec: &::csv::StringRecord, col: Option<usize>) -> Option<String> {
    opt(rec, col).map(|s| match formula::restore(&s) {
        std::borrow::Cow::Borrowed(_) => s,
        std::borrow::Cow::Owned(r) => r,
    })
}

fn parse_row(rec: &::csv::StringRecord, cols: &Columns, te: bool) -> Result<Record, ParseError> {
    let line = rec.position().map(|p| p.line()).unwrap_or(0);
    let t_str = rec.get(cols.signal_type).unwrap_or("");
    let t: SignalType = super::pytx::list_signal_type(t_str)
        .map_err(|e: crate::types::UnknownSignalType| line_err(line, e.to_string()))?;
    let v = rec.get(cols.value).unwrap_or("");
    let value = super::pytx::parse_list_value(t, v)
        .map_err(|e| line_err(line, format!("bad {t} value: {e}")))?;
    let mut r = Record::new(value);
    let split = |s: String, seps: &[char]| -> BTreeSet<String> {
        s.split(seps)
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    if te {
        if let Some(tags) = text(rec, cols.labels) {
            r.labels = split(tags, &[' ', ';', ',']);
        }
        if let Some(c) = text(rec, cols.collab) {
            r.labels.insert(format!("collab:{c}"));
        }
        if let Some(c) = text(rec, cols.category) {
            r.labels.insert(format!("category:{c}"));
        }
    } else {
        if let Some(l) = text(rec, cols.labels) {
            r.labels = split(l, &[';']);
        }
        r.external_id = text(rec, cols.external_id);
        r.note = text(rec, cols.note);
        if let Some(q) = opt(rec, cols.quality) {
            r.quality =
                Some(q.parse::<u8>().ok().filter(|q| *q <= 100).ok_or_else(|| {
                    line_err(line, format!("quality {q:?} is not a number 0..=100"))
                })?);
        }
    }
    Ok(r)
}

struct Iter<R: Read> {
    rdr: ::csv::Reader<R>,
    cols: Columns,
    te: bool,
    rec: ::csv::StringRecord,
    done: bool,
}

impl<R: Read> Iterator for Iter<R> {
    type Item = Result<Record, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rdr.read_record(&mut self.rec) {
            Ok(true) => Some(parse_row(&self.rec, &self.cols, self.te)),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                // An I/O error ends the stream; a malformed row does not.
                if matches!(e.kind(), ::csv::ErrorKind::Io(_)) {
                    self.done = true;
                }
                Some(Err(line_err(line, format!("malformed CSV row: {e}"))))
            }
        }
    }
}

/// Read our CSV.
pub fn read_csv<R: Read>(
    input: R,
) -> Result<impl Iterator<Item = Result<Record, ParseError>>, ParseError> {
    let (rdr, cols) = open(input, "signal_value")?;
    Ok(Iter {
        rdr,
        cols,
        te: false,
        rec: ::csv::StringRecord::new(),
        done: false,
    })
}

/// Read the ThreatExchange CSV (`tags` are space-separated; `collab` and
/// `category` become `collab:...` and `category:...` labels).
pub fn read_te_csv<R: Read>(
    input: R,
) -> Result<impl Iterator<Item = Result<Record, ParseError>>, ParseError> {
    let (mut rdr, mut cols) = open(input, "signal_str")?;
    // In this format the label column is called `tags`.
    cols.labels = rdr_headers_tags(&mut rdr);
    Ok(Iter {
        rdr,
        cols,
        te: true,
        rec: ::csv::StringRecord::new(),
        done: false,
    })
}

fn rdr_headers_tags<R: Read>(rdr: &mut ::csv::Reader<R>) -> Option<usize> {
    rdr.byte_headers()
        .ok()
        .and_then(|h| h.iter().position(|c| c.eq_ignore_ascii_case(b"tags")))
}

fn row<W: Write>(out: &mut W, fields: &[&str]) -> std::io::Result<()> {
    let mut w = ::csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    w.write_record(fields).map_err(std::io::Error::other)?;
    w.flush()
}

/// Write a row of our CSV.
pub fn write_csv<W: Write>(out: &mut W, r: &Record) -> std::io::Result<bool> {
    let labels = r
        .labels
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    let quality = r.quality.map(|q| q.to_string()).unwrap_or_default();
    row(
        out,
        &[
            r.value.signal_type().as_str(),
            &r.value.to_text(),
            &formula::neutralise(&labels),
            &formula::neutralise(r.external_id.as_deref().unwrap_or("")),
            &formula::neutralise(r.note.as_deref().unwrap_or("")),
            &quality,
        ],
    )?;
    Ok(true)
}

/// Write a row of the ThreatExchange CSV (`collab:`/`category:` labels go
/// back to their columns; `collab` defaults to the list name).
pub fn write_te_csv<W: Write>(out: &mut W, r: &Record, list: &str) -> std::io::Result<bool> {
    let mut collab = None;
    let mut category = None;
    let mut tags = Vec::new();
    for l in &r.labels {
        if let Some(c) = l.strip_prefix("collab:") {
            collab.get_or_insert(c);
        } else if let Some(c) = l.strip_prefix("category:") {
            category.get_or_insert(c);
        } else {
            tags.push(l.as_str());
        }
    }
    row(
        out,
        &[
            super::pytx::list_signal_name(r.value.signal_type()),
            &super::pytx::list_value_text(&r.value),
            &formula::neutralise(collab.unwrap_or(list)),
            &formula::neutralise(category.unwrap_or("")),
            &formula::neutralise(&tags.join(" ")),
        ],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn our_csv_round_trip_fields() {
        let h = "a".repeat(64);
        let input = format!(
            "signal_type,signal_value,labels,external_id,note\npdq,{h},entity:x;behaviour:y,42,\"a, note\"\nmd5,zz,,,\n"
        );
        let out: Vec<_> = read_csv(input.as_bytes()).unwrap().collect();
        let r = out[0].as_ref().unwrap();
        assert_eq!(r.labels.len(), 2);
        assert_eq!(r.external_id.as_deref(), Some("42"));
        assert_eq!(r.note.as_deref(), Some("a, note"));
        assert!(format!("{}", out[1].as_ref().unwrap_err()).contains("line 3"));
        let mut buf = Vec::new();
        write_csv(&mut buf, r).unwrap();
        let again: Vec<_> =
            read_csv(format!("{HEADER}\n{}", String::from_utf8(buf).unwrap()).as_bytes())
                .unwrap()
                .collect();
        assert_eq!(again[0].as_ref().unwrap(), r);
    }

    #[test]
    fn missing_column_is_a_file_error() {
        let err = read_csv("signal_type,labels\npdq,x\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.to_string().contains("signal_value"), "{err}");
    }

    #[test]
    fn te_csv_maps_collab_category_tags() {
        let h = "b".repeat(64);
        let input =
            format!("signal_type,signal_str,collab,category,tags\npdq,{h},GIFCT,terrorism,t1 t2\n");
        let r = read_te_csv(input.as_bytes())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let want: BTreeSet<String> = ["t1", "t2", "collab:GIFCT", "category:terrorism"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(r.labels, want);
        let mut buf = Vec::new();
        write_te_csv(&mut buf, &r, "list").unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            format!("pdq,{h},GIFCT,terrorism,t1 t2\n")
        );
    }

    #[test]
    fn formula_cells_are_quoted_and_come_back() {
        let h = "c".repeat(64);
        let mut r = Record::new(Value::parse(SignalType::Pdq, &h).unwrap());
        r.labels = ["=HYPERLINK(\"http://x\",\"y\")", "'@quoted", "plain"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        r.external_id = Some("-2+3".into());
        r.note = Some("+cmd|' /C calc'!A0".into());
        let mut buf = Vec::new();
        write_csv(&mut buf, &r).unwrap();
        let row = String::from_utf8(buf).unwrap();
        // Labels are sorted: `'@quoted` comes first and gets its own quote.
        assert!(
            row.starts_with(&format!("pdq,{h},\"''@quoted;=HYPERLINK(")),
            "{row}"
        );
        assert!(row.contains(",'-2+3,'+cmd|"), "{row}");
        let again = read_csv(format!("{HEADER}\n{row}").as_bytes())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(again, r);

        let mut te = Record::new(Value::parse(SignalType::Pdq, &h).unwrap());
        te.labels = ["@t1", "collab:=evil", "category:-x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut buf = Vec::new();
        write_te_csv(&mut buf, &te, "list").unwrap();
        let row = String::from_utf8(buf).unwrap();
        assert_eq!(row, format!("pdq,{h},'=evil,'-x,'@t1\n"));
        let again = read_te_csv(format!("{TE_HEADER}\n{row}").as_bytes())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(again.labels, te.labels);
    }
}
