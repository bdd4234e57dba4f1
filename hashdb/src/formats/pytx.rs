//! python-threatexchange's text forms: its signal type names and its vPDQ
//! signal string, a JSON list of `"<pdq hex>,<quality>,<timestamp>"`
//! strings (pytx `vpdq_util.vpdq_to_json` / `json_to_vpdq`), the timestamp
//! written with Python's `format(t, ".3")` (three significant digits).

use crate::types::{Pdq, SignalType};
use crate::vpdq::VpdqFrame;

/// pytx's name for one of our signal types, where pytx has one.
pub fn pytx_name(t: SignalType) -> Option<&'static str> {
    match t {
        SignalType::Pdq => Some("pdq"),
        SignalType::Md5 => Some("video_md5"),
        SignalType::Vpdq => Some("vpdq"),
        _ => None,
    }
}

/// Our signal type for a pytx (or HMA) signal type name.
pub fn from_pytx_name(name: &str) -> Option<SignalType> {
    match name {
        "pdq" => Some(SignalType::Pdq),
        "video_md5" | "md5" => Some(SignalType::Md5),
        "vpdq" => Some(SignalType::Vpdq),
        _ => None,
    }
}

/// Python's `format(x, ".3")` for a finite non-negative float: general
/// format with 3 significant digits, and at least one digit after the
/// point in fixed notation.
pub fn python_g3(x: f64) -> String {
    if x == 0.0 {
        return "0.0".into();
    }
    // Rounded to 3 significant digits first: the exponent is the rounded
    // value's, as Python decides it.
    let sci = format!("{x:.2e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..3).contains(&exp) {
        let decimals = usize::try_from(2 - exp).unwrap_or(0);
        let mut s = format!("{x:.decimals$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
        }
        if s.ends_with('.') {
            s.push('0');
        } else if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let mut m = mant.to_string();
        if m.contains('.') {
            while m.ends_with('0') {
                m.pop();
            }
            if m.ends_with('.') {
                m.pop();
            }
        }
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    }
}

/// Frames as pytx's vPDQ signal string.
pub fn vpdq_to_pytx(frames: &[VpdqFrame]) -> String {
    let items: Vec<serde_json::Value> = frames
        .iter()
        .map(|f| {
            serde_json::Value::String(format!(
                "{},{},{}",
                f.hash,
                f.quality,
                python_g3(f.timestamp)
            ))
        })
        .collect();
    // pytx writes `json.dumps(list)`: ", " between items.
    let parts: Vec<String> = items.iter().map(|v| v.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Whether `text` looks like pytx's vPDQ string (a JSON list of strings).
pub fn is_pytx_vpdq(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('[') && t[1..].trim_start().starts_with('"')
}

/// Frames from pytx's vPDQ signal string, numbered in order (pytx keeps no
/// frame numbers), under pytx's own checks (64 hex digits, quality
/// 0..=100, timestamp >= 0).
///
/// # Errors
/// A message naming the first bad item.
pub fn vpdq_from_pytx(text: &str) -> Result<Vec<VpdqFrame>, String> {
    let items: Vec<String> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON list of strings: {e}"))?;
    if items.is_empty() {
        return Err("a vPDQ value needs at least one frame".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let bad = || format!("invalid VpdqCompactFeature serialization: {s}");
            let mut parts = s.split(',');
            let (Some(h), Some(q), Some(t), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let hash: Pdq = h.trim().parse().map_err(|_| bad())?;
            let quality: u8 = q
                .trim()
                .parse()
                .ok()
                .filter(|q| *q <= 100)
                .ok_or_else(bad)?;
            let timestamp: f64 = t
                .trim()
                .parse()
                .ok()
                .filter(|t: &f64| t.is_finite() && *t >= 0.0)
                .ok_or_else(bad)?;
            Ok(VpdqFrame {
                frame: i as u64,
                hash,
                quality,
                timestamp,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_general_format() {
        // Python: [format(x, ".3") for x in ...]
        let cases = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (0.5, "0.5"),
            (12.345, "12.3"),
            (99.96, "1e+02"),
            (123.4, "1.23e+02"),
            (1000.0, "1e+03"),
            (0.0001234, "0.000123"),
            (0.00001234, "1.23e-05"),
            (2.0, "2.0"),
            (10.0, "10.0"),
        ];
        for (x, want) in cases {
            assert_eq!(python_g3(x), want, "{x}");
        }
    }

    #[test]
    fn pytx_vpdq_round_trip() {
        let h = "f".repeat(64);
        let text = format!("[\"{h},100,0.0\", \"{h},49,1.0\"]");
        assert!(is_pytx_vpdq(&text));
        let frames = vpdq_from_pytx(&text).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].quality, 49);
        assert_eq!(vpdq_to_pytx(&frames), text);
        assert!(vpdq_from_pytx(&format!("[\"{h},101,0.0\"]")).is_err());
        assert!(vpdq_from_pytx(&format!("[\"{h},1,-1\"]")).is_err());
        assert!(vpdq_from_pytx("[]").is_err());
    }
}
