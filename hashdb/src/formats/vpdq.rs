//! vPDQ text: `frame,quality,hash,timestamp` lines, one video per file (the
//! reference `vpdq` tools' output). The whole file is one record.

use std::io::{BufRead, Write};

use super::{line_err, lines};
use crate::error::ParseError;
use crate::model::{normalize_frames, Record, Value};
use crate::vpdq::VpdqFrame;

/// Whether `line` looks like a vPDQ frame line.
pub fn looks_like_frame_line(line: &str) -> bool {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    f.len() == 4
        && f[0].parse::<u64>().is_ok()
        && f[1].parse::<u8>().is_ok()
        && f[2].len() == 64
        && f[2].bytes().all(|b| b.is_ascii_hexdigit())
        && f[3].parse::<f64>().is_ok()
}

fn parse_line(n: u64, l: &str) -> Result<VpdqFrame, ParseError> {
    let f: Vec<&str> = l.trim().split(',').map(str::trim).collect();
    if f.len() != 4 {
        return Err(line_err(
            n,
            format!(
                "expected 4 fields `frame,quality,hash,timestamp`, got {}",
                f.len()
            ),
        ));
    }
    let frame = f[0]
        .parse()
        .map_err(|_| line_err(n, format!("bad frame number {:?}", f[0])))?;
    let quality = f[1]
        .parse::<u8>()
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| line_err(n, format!("bad quality {:?}", f[1])))?;
    let hash = f[2]
        .parse()
        .map_err(|e| line_err(n, format!("bad frame hash: {e}")))?;
    let timestamp = f[3]
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| line_err(n, format!("bad timestamp {:?}", f[3])))?;
    Ok(VpdqFrame {
        frame,
        hash,
        quality,
        timestamp,
    })
}

/// Read one video. Yields exactly one item: the record or the first error.
pub fn read<R: BufRead>(input: R) -> impl Iterator<Item = Result<Record, ParseError>> {
    let result = (|| {
        let mut frames = Vec::new();
        let mut last = 0;
        for (n, l) in lines(input) {
            frames.push(parse_line(n, &l?)?);
            last = n;
        }
        let frames = normalize_frames(frames).map_err(|m| line_err(last.max(1), m))?;
        Ok(Record::new(Value::Vpdq(frames)))
    })();
    std::iter::once(result)
}

/// Write a vPDQ entry's frames; other types are skipped (false).
pub fn write<W: Write>(out: &mut W, r: &Record) -> std::io::Result<bool> {
    let Value::Vpdq(frames) = &r.value else {
        return Ok(false);
    };
    for f in frames {
        writeln!(
            out,
            "{},{},{},{:.3}",
            f.frame, f.quality, f.hash, f.timestamp
        )?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_video_and_rejects_truncation() {
        let h = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c";
        let ok = format!("0,100,{h},0.000\n30,90,{h},1.000\n");
        let r: Vec<_> = read(ok.as_bytes()).collect();
        let Value::Vpdq(frames) = &r[0].as_ref().unwrap().value else {
            panic!()
        };
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].quality, 90);
        let truncated = format!("0,100,{h},0.000\n30,90,{}", &h[..20]);
        let r: Vec<_> = read(truncated.as_bytes()).collect();
        assert!(format!("{}", r[0].as_ref().unwrap_err()).contains("line 2"));
        let dup = format!("0,100,{h},0.000\n0,90,{h},1.000\n");
        assert!(read(dup.as_bytes()).next().unwrap().is_err());
    }
}
