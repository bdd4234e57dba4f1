//! JSON Lines: our lossless format. One object per entry with everything in
//! the data model (value or frames, quality, labels, ids, note, status with
//! who/why/when, added time), so export then import reproduces the list.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{line_err, lines};
use crate::error::ParseError;
use crate::model::{normalize_frames, Entry, Record, Status, StatusChange, Value};
use crate::types::{Pdq, SignalType};
use crate::vpdq::VpdqFrame;

/// One frame of a vPDQ entry in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFrame {
    pub frame: u64,
    pub quality: u8,
    pub hash: Pdq,
    pub timestamp: f64,
}

impl JsonFrame {
    /// The frame, held to the rules of the vPDQ text reader: quality
    /// 0..=100 (the store refuses more, and would fail the whole import
    /// with a database error), a finite timestamp not below 0 (else the
    /// entry could not be exported as vPDQ text and imported back).
    fn into_frame(self) -> Result<VpdqFrame, String> {
        if self.quality > 100 {
            return Err(format!(
                "frame {}: quality {} is above 100",
                self.frame, self.quality
            ));
        }
        if !(self.timestamp.is_finite() && self.timestamp >= 0.0) {
            return Err(format!(
                "frame {}: bad timestamp {}",
                self.frame, self.timestamp
            ));
        }
        Ok(VpdqFrame {
            frame: self.frame,
            hash: self.hash,
            quality: self.quality,
            timestamp: self.timestamp,
        })
    }
}

/// One entry in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonEntry {
    /// Informational on export (the list and id it came from); ignored on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub signal_type: String,
    /// The hash (hex) for every type but vPDQ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The frames of a vPDQ entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<JsonFrame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    #[serde(default)]
    pub labels: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at: Option<i64>,
    #[serde(default)]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<i64>,
}

impl JsonEntry {
    /// The JSON form of a stored entry.
    pub fn from_entry(e: &Entry, list: &str) -> JsonEntry {
        let r = &e.record;
        let (value, frames) = match &r.value {
            Value::Vpdq(f) => (
                None,
                Some(
                    f.iter()
                        .map(|f| JsonFrame {
                            frame: f.frame,
                            quality: f.quality,
                            hash: f.hash,
                            timestamp: f.timestamp,
                        })
                        .collect(),
                ),
            ),
            v => (Some(v.to_text()), None),
        };
        JsonEntry {
            list: Some(list.to_string()),
            id: Some(e.id),
            signal_type: r.value.signal_type().to_string(),
            value,
            frames,
            quality: r.quality,
            labels: r.labels.clone(),
            external_id: r.external_id.clone(),
            note: r.note.clone(),
            added_at: Some(e.added_at),
            status: e.status.status,
            status_by: e.status.by.clone(),
            status_reason: e.status.reason.clone(),
            status_at: e.status.at,
        }
    }

    /// The record this JSON describes.
    pub fn into_record(self) -> Result<Record, String> {
        let t: SignalType = self
            .signal_type
            .parse()
            .map_err(|e: crate::types::UnknownSignalType| e.to_string())?;
        let value = match (t, self.value, self.frames) {
            (SignalType::Vpdq, _, Some(frames)) => Value::Vpdq(normalize_frames(
                frames
                    .into_iter()
                    .map(JsonFrame::into_frame)
                    .collect::<Result<_, _>>()?,
            )?),
            (t, Some(v), None) => Value::parse(t, &v).map_err(|e| format!("bad {t} value: {e}"))?,
            (t, None, None) => return Err(format!("a {t} entry needs \"value\"")),
            (t, _, _) => {
                return Err(format!(
                    "a {t} entry has \"value\" or \"frames\" but not both"
                ))
            }
        };
        if let Some(q) = self.quality.filter(|q| *q > 100) {
            return Err(format!("quality {q} is above 100"));
        }
        let status = StatusChange {
            status: self.status,
            by: self.status_by,
            reason: self.status_reason,
            at: self.status_at,
        };
        Ok(Record {
            value,
            quality: self.quality,
            labels: self.labels,
            external_id: self.external_id,
            note: self.note,
            status: Some(status),
            added_at: self.added_at,
        })
    }
}

/// Read JSON Lines.
pub fn read<R: BufRead>(input: R) -> impl Iterator<Item = Result<Record, ParseError>> {
    lines(input).map(|(n, l)| {
        let l = l?;
        let e: JsonEntry =
            serde_json::from_str(&l).map_err(|e| line_err(n, format!("bad JSON: {e}")))?;
        e.into_record().map_err(|m| line_err(n, m))
    })
}

/// Write one entry as a JSON line.
pub fn write<W: Write>(out: &mut W, e: &Entry, list: &str) -> std::io::Result<bool> {
    serde_json::to_writer(&mut *out, &JsonEntry::from_entry(e, list))
        .map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `e` exported and read back.
    fn round_trip(e: &Entry) -> Vec<Result<Record, ParseError>> {
        let mut buf = Vec::new();
        write(&mut buf, e, "l").unwrap();
        read(buf.as_slice()).collect()
    }

    #[test]
    fn round_trip_is_exact() {
        let frames = vec![
            VpdqFrame {
                frame: 0,
                hash: "a".repeat(64).parse().unwrap(),
                quality: 100,
                timestamp: 0.0,
            },
            VpdqFrame {
                frame: 30,
                hash: "b".repeat(64).parse().unwrap(),
                quality: 7,
                timestamp: 1.0000000001,
            },
        ];
        let mut rec = Record::new(Value::Vpdq(frames));
        rec.labels.insert("entity:x".into());
        rec.note = Some("ünïcode \"quoted\"\nnewline".into());
        let status = StatusChange {
            status: Status::Disputed,
            by: Some("bob".into()),
            reason: Some("logo".into()),
            at: Some(123),
        };
        rec.status = Some(status.clone());
        rec.added_at = Some(99);
        let e = Entry {
            id: 5,
            list_id: 1,
            record: rec.clone(),
            added_at: 99,
            status,
        };
        let back = round_trip(&e);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].as_ref().unwrap(), &rec);
    }

    /// Timestamps the default serde_json parser reads one ulp off (the
    /// first found by the list_formats fuzz target): every one imports
    /// back to the bits that were exported.
    #[test]
    fn every_timestamp_round_trips_bit_for_bit() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut stamps = vec![1.0000555555555557, 1.0000555555555555, 0.1, 1e-300];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            stamps.push((x >> 11) as f64 / (1u64 << 53) as f64 * 86_400.0);
        }
        for t in stamps {
            let rec = Record::new(Value::Vpdq(vec![VpdqFrame {
                frame: 0,
                hash: "a".repeat(64).parse().unwrap(),
                quality: 100,
                timestamp: t,
            }]));
            let e = Entry {
                id: 1,
                list_id: 1,
                record: rec,
                added_at: 1,
                status: StatusChange {
                    status: Status::Active,
                    by: None,
                    reason: None,
                    at: None,
                },
            };
            let back = round_trip(&e);
            let Value::Vpdq(f) = &back[0].as_ref().unwrap().value else {
                panic!("not vPDQ");
            };
            assert_eq!(f[0].timestamp.to_bits(), t.to_bits(), "{t}");
        }
    }

    #[test]
    fn frames_follow_the_vpdq_text_rules() {
        let h = "a".repeat(64);
        for (frame, want) in [
            (
                format!(r#"{{"frame":0,"quality":101,"hash":"{h}","timestamp":0}}"#),
                "quality 101",
            ),
            (
                format!(r#"{{"frame":0,"quality":9,"hash":"{h}","timestamp":-1}}"#),
                "bad timestamp",
            ),
        ] {
            let line = format!(r#"{{"signal_type":"vpdq","frames":[{frame}]}}"#);
            let err = read(line.as_bytes()).next().unwrap().unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn bad_json_lines_are_numbered() {
        let input =
            "{\"signal_type\":\"md5\",\"value\":\"00\"}\n{not json\n{\"signal_type\":\"pdq\"}\n";
        let out: Vec<_> = read(input.as_bytes()).collect();
        for (i, want) in [(0, "line 1"), (1, "line 2"), (2, "line 3")] {
            assert!(out[i].as_ref().unwrap_err().to_string().contains(want));
        }
    }
}
