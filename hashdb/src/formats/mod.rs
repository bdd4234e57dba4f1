//! List file formats: detection, reading and writing.
//!
//! Teams receive lists in whatever shape the sharing programme uses, so the
//! importer accepts each of them and detects which one a file is from its
//! first lines (the user can override). Readers are streaming iterators of
//! records so a 10M-line list never sits in memory twice; every bad line is an
//! error carrying its 1-based line number, and the caller decides whether to
//! stop or skip it.
//!
//! | format | shape |
//! |---|---|
//! | `pdq` | one PDQ hex a line, optionally `hash,quality[,note]` (the reference tools) |
//! | `signal` | `<signal_type> <value>` a line (python-threatexchange `local_file`) |
//! | `csv` | header `signal_type,signal_value,labels,external_id,note` (labels `;`-separated) |
//! | `te-csv` | `threatexchange dataset --csv`: `signal_type,signal_str,collab,category,tags` |
//! | `vpdq` | `frame,quality,hash,timestamp` lines, one video per file |
//! | `jsonl` | our lossless format: one JSON object per entry, everything in the model |

mod csv;
pub mod formula;
mod jsonl;
pub mod pytx;
mod text;
mod vpdq;

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use crate::error::ParseError;
use crate::model::{Entry, Record};

pub use jsonl::JsonEntry;

/// A list file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    PdqText,
    SignalLines,
    Csv,
    TeCsv,
    Vpdq,
    Jsonl,
}

impl Format {
    /// All formats, with their command-line names.
    pub const ALL: [Format; 6] = [
        Format::PdqText,
        Format::SignalLines,
        Format::Csv,
        Format::TeCsv,
        Format::Vpdq,
        Format::Jsonl,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Format::PdqText => "pdq",
            Format::SignalLines => "signal",
            Format::Csv => "csv",
            Format::TeCsv => "te-csv",
            Format::Vpdq => "vpdq",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?} (expected pdq, signal, csv, te-csv, vpdq or jsonl)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == l)
            .or(match l.as_str() {
                "txt" | "text" | "pdq-text" => Some(Format::PdqText),
                "local_file" | "lines" => Some(Format::SignalLines),
                "threatexchange" | "tecsv" | "te_csv" => Some(Format::TeCsv),
                "json" | "ndjson" => Some(Format::Jsonl),
                _ => None,
            })
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Guess the format from the start of a file.
///
/// # Errors
/// [`ParseError::File`] when the content fits none of the formats (the
/// message shows the first line).
pub fn detect(head: &[u8]) -> Result<Format, ParseError> {
    let text = String::from_utf8_lossy(head);
    let first = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = first else {
        return Err(ParseError::File("empty file: nothing to import".into()));
    };
    if first.starts_with('{') {
        return Ok(Format::Jsonl);
    }
    let lower = first.to_ascii_lowercase();
    let cols: Vec<&str> = lower.split(',').map(str::trim).collect();
    if cols.contains(&"signal_str") {
        return Ok(Format::TeCsv);
    }
    if cols.contains(&"signal_value") || cols.contains(&"signal_type") {
        return Ok(Format::Csv);
    }
    if vpdq::looks_like_frame_line(first) {
        return Ok(Format::Vpdq);
    }
    if text::looks_like_pdq_line(first) {
        return Ok(Format::PdqText);
    }
    if let Some((t, _)) = first.split_once(char::is_whitespace) {
        // Ours, or any of pytx's type names (`threatexchange dataset -P -S`
        // lists types we cannot match too: their lines are reported).
        if pytx::list_signal_type(t).is_ok() || pytx::OTHER_TYPES.contains(&t) {
            return Ok(Format::SignalLines);
        }
    }
    let shown: String = first.chars().take(80).collect();
    Err(ParseError::File(format!(
        "cannot tell the format from the first line {shown:?}; pass --format"
    )))
}

/// A streaming reader of records.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Record, ParseError>> + 'a>;

/// Read records of `format` from `input`.
///
/// # Errors
/// A CSV without its required columns fails here; line errors come from
/// the iterator.
pub fn read<'a, R: BufRead + 'a>(format: Format, input: R) -> Result<Records<'a>, ParseError> {
    Ok(match format {
        Format::PdqText => Box::new(text::read_pdq(input)),
        Format::SignalLines => Box::new(text::read_signal_lines(input)),
        Format::Csv => Box::new(csv::read_csv(input)?),
        Format::TeCsv => Box::new(csv::read_te_csv(input)?),
        Format::Vpdq => Box::new(vpdq::read(input)),
        Format::Jsonl => Box::new(jsonl::read(input)),
    })
}

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub written: u64,
    /// Entries the format cannot represent (e.g. MD5s in a PDQ text file).
    pub skipped: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("write error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unsupported(String),
}

/// A sink of entries in one format (header written on creation, if any).
pub struct Writer<W: Write> {
    format: Format,
    out: W,
    list_name: String,
    summary: ExportSummary,
}

impl<W: Write> Writer<W> {
    /// Start writing `format` to `out`. `list_name` is recorded where the
    /// format has room for it (JSONL, te-csv's collab).
    pub fn new(format: Format, mut out: W, list_name: &str) -> Result<Self, ExportError> {
        match format {
            Format::Csv => writeln!(out, "{}", csv::HEADER)?,
            Format::TeCsv => writeln!(out, "{}", csv::TE_HEADER)?,
            _ => {}
        }
        Ok(Writer {
            format,
            out,
            list_name: list_name.to_string(),
            summary: ExportSummary::default(),
        })
    }

    /// Write one entry.
    pub fn write(&mut self, e: &Entry) -> Result<(), ExportError> {
        let written = match self.format {
            Format::PdqText => text::write_pdq(&mut self.out, &e.record)?,
            Format::SignalLines => text::write_signal_line(&mut self.out, &e.record)?,
            Format::Csv => csv::write_csv(&mut self.out, &e.record)?,
            Format::TeCsv => csv::write_te_csv(&mut self.out, &e.record, &self.list_name)?,
            Format::Vpdq => {
                if self.summary.written > 0
                    && matches!(e.record.value, crate::model::Value::Vpdq(_))
                {
                    return Err(ExportError::Unsupported(
                        "the vpdq format holds one video per file; export with --format jsonl or select one entry".into(),
                    ));
                }
                vpdq::write(&mut self.out, &e.record)?
            }
            Format::Jsonl => jsonl::write(&mut self.out, e, &self.list_name)?,
        };
        if written {
            self.summary.written += 1;
        } else {
            self.summary.skipped += 1;
        }
        Ok(())
    }

    /// Flush and return the counts.
    pub fn finish(mut self) -> Result<ExportSummary, ExportError> {
        self.out.flush()?;
        Ok(self.summary)
    }
}

/// Iterate the lines of `input` with 1-based numbers, skipping blank lines
/// and `#` comments; a read error (e.g. invalid UTF-8) ends with an error.
pub(crate) fn lines<R: BufRead>(
    input: R,
) -> impl Iterator<Item = (u64, Result<String, ParseError>)> {
    input
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let n = i as u64 + 1;
            (
                n,
                l.map_err(|e| ParseError::Line {
                    line: n,
                    message: format!("unreadable line: {e}"),
                }),
            )
        })
        .filter(|(_, l)| match l {
            Ok(s) => {
                let t = s.trim().trim_start_matches('\u{feff}');
                !t.is_empty() && !t.starts_with('#')
            }
            Err(_) => true,
        })
}

pub(crate) fn line_err(line: u64, message: impl Into<String>) -> ParseError {
    ParseError::Line {
        line,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        let h = "f".repeat(64);
        assert_eq!(detect(h.as_bytes()).unwrap(), Format::PdqText);
        assert_eq!(
            detect(format!("{h},100\n").as_bytes()).unwrap(),
            Format::PdqText
        );
        assert_eq!(
            detect(format!("# c\npdq {h}\n").as_bytes()).unwrap(),
            Format::SignalLines
        );
        assert_eq!(
            detect(b"signal_type,signal_value,labels\n").unwrap(),
            Format::Csv
        );
        assert_eq!(
            detect(b"signal_type,signal_str,collab,category,tags\n").unwrap(),
            Format::TeCsv
        );
        assert_eq!(
            detect(format!("0,100,{h},0.000\n").as_bytes()).unwrap(),
            Format::Vpdq
        );
        assert_eq!(
            detect(b"{\"signal_type\":\"md5\"}\n").unwrap(),
            Format::Jsonl
        );
        assert!(detect(b"hello world\n").is_err());
        assert!(detect(b"\n\n").is_err());
    }
}
