//! The single writer: records into the report, the summary, the progress
//! and the resume state, in the order they arrive from the workers.
//!
//! A worker sends the records of an archive's members one at a time while
//! it reads the archive ([`Msg::Part`]), then the file's own record
//! ([`Msg::Done`]); one worker's messages arrive in the order it sent them,
//! so the worker's index says which file a part belongs to. A part is
//! written at once and only what the resume state needs of it is kept
//! until its file is done: its JSON line, within [`STATE_TEXT_MAX`] bytes
//! over all files in flight. A file whose records would take more is not
//! stored (a resumed run scans it again), so memory never grows with the
//! number of members.

use super::process::WorkStats;
use super::resume::{RunState, StateError};
use super::summary::Summary;
use super::{Line, ScanError};
use crate::progress::Progress;
use crate::walk::FileKey;
use serde_json::Value;
use std::io;

/// Most bytes of record text held for the resume state, over all files
/// being scanned: about 50,000 archive members. (Storing a file's records
/// costs a few times their size again, in SQLite's copies.)
pub const STATE_TEXT_MAX: usize = 16 << 20;

/// What a worker sends to the writer.
pub enum Msg {
    /// A record of the file worker `from` is still scanning (an archive
    /// member).
    Part { from: usize, line: Line },
    /// Worker `from` is done with a file.
    Done {
        from: usize,
        outcome: Result<Outcome, StateError>,
    },
}

/// How one input file ended.
pub enum Outcome {
    /// Scanned now: the file's own record, which follows its parts.
    Fresh {
        key: Option<FileKey>,
        own: Line,
        stats: WorkStats,
    },
    /// Stopped (Ctrl-C) inside an archive: its parts are complete
    /// records; the archive itself is neither reported nor stored as done.
    Stopped { stats: WorkStats },
    /// Done in an earlier session of the run: the stored JSON lines.
    Stored { key: FileKey, lines: String },
}

/// What the writer keeps of a file until it is done.
#[derive(Default)]
struct InFlight {
    /// The JSON lines written so far, for the resume state (`None`: not
    /// kept, no state or too large).
    text: Option<String>,
    records: u64,
    matches: u64,
    errors: u64,
}

/// The writer's state over one scan.
pub struct Writer<'a> {
    summary: &'a mut Summary,
    state: Option<&'a mut RunState>,
    progress: &'a dyn Progress,
    sink: &'a mut dyn FnMut(&Line) -> io::Result<()>,
    /// Indexed by worker.
    in_flight: Vec<InFlight>,
    /// Bytes of `text` over all of `in_flight` ...
    kept: usize,
    /// ... and their limit ([`STATE_TEXT_MAX`]).
    max_kept: usize,
}

impl<'a> Writer<'a> {
    pub fn new(
        summary: &'a mut Summary,
        state: Option<&'a mut RunState>,
        progress: &'a dyn Progress,
        sink: &'a mut dyn FnMut(&Line) -> io::Result<()>,
        workers: usize,
    ) -> Self {
        let mut w = Writer {
            summary,
            state,
            progress,
            sink,
            in_flight: Vec::new(),
            kept: 0,
            max_kept: STATE_TEXT_MAX,
        };
        w.in_flight = (0..workers).map(|_| w.fresh()).collect();
        w
    }

    fn fresh(&self) -> InFlight {
        InFlight {
            text: self.state.is_some().then(String::new),
            ..InFlight::default()
        }
    }

    /// Apply one message.
    ///
    /// # Errors
    /// The sink or the resume state failed: the scan must stop.
    pub fn take(&mut self, msg: Msg) -> Result<(), ScanError> {
        match msg {
            Msg::Part { from, line } => self.write(from, &line),
            Msg::Done { from, outcome } => self.done(from, outcome?),
        }
    }

    /// Write a record of worker `from`'s file and count it.
    fn write(&mut self, from: usize, line: &Line) -> Result<(), ScanError> {
        (self.sink)(line).map_err(ScanError::Output)?;
        let facts = self.summary.add_record(&line.value);
        let Some(file) = self.in_flight.get_mut(from) else {
            return Ok(());
        };
        file.records += 1;
        file.matches += facts.matches;
        file.errors += u64::from(facts.error);
        if let Some(text) = &mut file.text {
            let more = line.text.len() + 1;
            if self.kept + more > self.max_kept {
                self.kept -= text.len();
                file.text = None;
            } else {
                text.push_str(&line.text);
                text.push('\n');
                self.kept += more;
            }
        }
        Ok(())
    }

    /// Take worker `from`'s file out of the in-flight set.
    fn end(&mut self, from: usize) -> InFlight {
        let fresh = self.fresh();
        let file = self
            .in_flight
            .get_mut(from)
            .map(|f| std::mem::replace(f, fresh))
            .unwrap_or_default();
        self.kept -= file.text.as_ref().map_or(0, String::len);
        file
    }

    fn done(&mut self, from: usize, outcome: Outcome) -> Result<(), ScanError> {
        match outcome {
            Outcome::Fresh { key, own, stats } => {
                self.summary.deduplicated += stats.deduplicated;
                self.write(from, &own)?;
                let file = self.end(from);
                let bytes = key.as_ref().map_or(0, |k| k.size);
                self.file_done(bytes, &file);
                // A file that could not be read is tried again on resume.
                let io_failed = own.value.get("error").and_then(|e| e.get("kind"))
                    == Some(&Value::String("io".into()));
                if let (Some(st), Some(key), Some(text), false) =
                    (self.state.as_deref_mut(), key, file.text, io_failed)
                {
                    st.record(&key, text)?;
                }
            }
            Outcome::Stopped { stats } => {
                self.summary.deduplicated += stats.deduplicated;
                self.end(from);
            }
            Outcome::Stored { key, lines } => {
                self.summary.resumed_files += 1;
                let mut file = InFlight::default();
                for l in lines.lines().filter(|l| !l.is_empty()) {
                    let line = Line::parse(l.to_string());
                    (self.sink)(&line).map_err(ScanError::Output)?;
                    let facts = self.summary.add_record(&line.value);
                    file.records += 1;
                    file.matches += facts.matches;
                    file.errors += u64::from(facts.error);
                }
                self.file_done(key.size, &file);
            }
        }
        Ok(())
    }

    fn file_done(&mut self, bytes: u64, file: &InFlight) {
        self.summary.files += 1;
        self.summary.bytes += bytes;
        self.progress
            .file_done(bytes, file.records, file.matches, file.errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NullProgress;
    use std::path::PathBuf;

    fn line(path: &str) -> Line {
        Line::parse(format!("{{\"path\":\"{path}\",\"error\":null}}"))
    }

    fn key(path: &str) -> FileKey {
        FileKey {
            path: PathBuf::from(path),
            size: 1,
            mtime_ns: 1,
        }
    }

    fn archive(w: &mut Writer<'_>, from: usize, name: &str, members: usize) {
        for i in 0..members {
            let part = line(&format!("{name}!/m{i}"));
            w.take(Msg::Part { from, line: part }).unwrap();
        }
        let outcome = Ok(Outcome::Fresh {
            key: Some(key(name)),
            own: line(name),
            stats: WorkStats::default(),
        });
        w.take(Msg::Done { from, outcome }).unwrap();
    }

    #[test]
    fn parts_are_written_at_once_and_stored_only_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let mut state = RunState::open(&dir.path().join("s.runs"), "r", &roots).unwrap();
        let mut summary = Summary::default();
        let mut written = Vec::new();
        let mut sink = |l: &Line| {
            written.push(l.text.clone());
            Ok(())
        };
        let mut w = Writer::new(&mut summary, Some(&mut state), &NullProgress, &mut sink, 2);
        w.max_kept = 1000;
        // Worker 1 starts a big archive; worker 0 does a small one in
        // between: both are written as they come.
        w.take(Msg::Part {
            from: 1,
            line: line("big!/first"),
        })
        .unwrap();
        archive(&mut w, 0, "small", 3);
        archive(&mut w, 1, "big", 40);
        assert_eq!(w.kept, 0);
        drop(w);
        assert_eq!(written.len(), 1 + 4 + 41);
        assert!(written[0].contains("big!/first"));
        assert!(written[4].contains("\"small\""));
        assert_eq!((summary.files, summary.records), (2, 46));
        state.flush().unwrap();
        let stored = state.lookup();
        let small = stored.get(&key("small")).unwrap().unwrap();
        assert_eq!(small.lines().count(), 4);
        assert!(small.lines().last().unwrap().contains("\"small\""));
        // Over the cap: not stored, so a resumed run scans it again.
        assert_eq!(stored.get(&key("big")).unwrap(), None);
    }

    #[test]
    fn a_stopped_archive_is_not_counted_or_stored() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let mut state = RunState::open(&dir.path().join("s.runs"), "r", &roots).unwrap();
        let mut summary = Summary::default();
        let mut sink = |_: &Line| Ok(());
        let mut w = Writer::new(&mut summary, Some(&mut state), &NullProgress, &mut sink, 1);
        w.take(Msg::Part {
            from: 0,
            line: line("a!/m"),
        })
        .unwrap();
        let stats = WorkStats::default();
        w.take(Msg::Done {
            from: 0,
            outcome: Ok(Outcome::Stopped { stats }),
        })
        .unwrap();
        assert_eq!(w.kept, 0);
        drop(w);
        assert_eq!((summary.files, summary.records), (0, 1));
        state.flush().unwrap();
        assert_eq!(state.lookup().get(&key("a")).unwrap(), None);
    }
}
