//! Line formats: bare PDQ hex (`hash[,quality[,note]]`) and
//! `<signal_type> <value>` (python-threatexchange's `local_file`).

use std::io::{BufRead, Write};

use super::{line_err, lines};
use crate::error::ParseError;
use crate::model::{Record, Value};
use crate::types::{Pdq, SignalType};

/// Whether `line` starts like a PDQ text line (64 hex digits, then `,` or end).
pub fn looks_like_pdq_line(line: &str) -> bool {
    let first = line.split(',').next().unwrap_or("").trim();
    first.len() == 64 && first.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_quality(s: &str, line: u64) -> Result<u8, ParseError> {
    s.trim()
        .parse::<u8>()
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| {
            line_err(
                line,
                format!("quality {:?} is not a number 0..=100", s.trim()),
            )
        })
}

/// Read `hash[,quality[,note]]` lines.
pub fn read_pdq<R: BufRead>(input: R) -> impl Iterator<Item = Result<Record, ParseError>> {
    lines(input).map(|(n, l)| {
        let l = l?;
        let mut parts = l.trim().trim_start_matches('\u{feff}').splitn(3, ',');
        let hex = parts.next().unwrap_or("");
        let pdq: Pdq = hex
            .trim()
            .parse()
            .map_err(|e| line_err(n, format!("bad PDQ hash: {e}")))?;
        let mut r = Record::new(Value::Pdq(pdq));
        if let Some(q) = parts.next() {
            r.quality = Some(parse_quality(q, n)?);
        }
        if let Some(note) = parts.next().map(str::trim).filter(|s| !s.is_empty()) {
            r.note = Some(note.to_string());
        }
        Ok(r)
    })
}

/// Read `<signal_type> <value>` lines.
pub fn read_signal_lines<R: BufRead>(input: R) -> impl Iterator<Item = Result<Record, ParseError>> {
    lines(input).map(|(n, l)| {
        let l = l?;
        let l = l.trim().trim_start_matches('\u{feff}');
        let (t, v) = l
            .split_once(char::is_whitespace)
            .ok_or_else(|| line_err(n, "expected `<signal_type> <value>`"))?;
        let t: SignalType = super::pytx::list_signal_type(t)
            .map_err(|e: crate::types::UnknownSignalType| line_err(n, e.to_string()))?;
        let value = super::pytx::parse_list_value(t, v)
            .map_err(|e| line_err(n, format!("bad {t} value: {e}")))?;
        Ok(Record::new(value))
    })
}

/// Write a PDQ entry as `hash[,quality]`; other types are skipped (false).
pub fn write_pdq<W: Write>(out: &mut W, r: &Record) -> std::io::Result<bool> {
    let Value::Pdq(p) = &r.value else {
        return Ok(false);
    };
    match r.quality {
        Some(q) => writeln!(out, "{p},{q}")?,
        None => writeln!(out, "{p}")?,
    }
    Ok(true)
}

/// Write `<signal_type> <value>` as pytx's `local_file` reads it: pytx's
/// type names (`video_md5`) and vPDQ text where pytx has them.
pub fn write_signal_line<W: Write>(out: &mut W, r: &Record) -> std::io::Result<bool> {
    writeln!(
        out,
        "{} {}",
        super::pytx::list_signal_name(r.value.signal_type()),
        super::pytx::list_value_text(&r.value)
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdq_lines_with_errors_numbered() {
        let h = "0123456789abcdef".repeat(4);
        let input = format!(
            "{h}\n\n# comment\n{h},87,cat.jpg\nnothex\n{h},101\n{}\n",
            &h[..60]
        );
        let out: Vec<_> = read_pdq(input.as_bytes()).collect();
        assert_eq!(out.len(), 5);
        assert!(out[0].is_ok());
        let r = out[1].as_ref().unwrap();
        assert_eq!((r.quality, r.note.as_deref()), (Some(87), Some("cat.jpg")));
        for (i, line) in [(2, 5), (3, 6), (4, 7)] {
            match &out[i] {
                Err(ParseError::Line { line: l, .. }) => assert_eq!(*l, line),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn signal_lines() {
        let input = format!(
            "md5 {}\npdq {}\nsha1 {}\nmd5 abc\nnospace\n",
            "a".repeat(32),
            "b".repeat(64),
            "c".repeat(40)
        );
        let out: Vec<_> = read_signal_lines(input.as_bytes()).collect();
        assert!(matches!(out[0].as_ref().unwrap().value, Value::Md5(_)));
        assert!(matches!(out[1].as_ref().unwrap().value, Value::Pdq(_)));
        assert!(format!("{}", out[2].as_ref().unwrap_err()).contains("unknown signal type"));
        assert!(format!("{}", out[3].as_ref().unwrap_err()).contains("line 4"));
        assert!(out[4].is_err());
    }
}
