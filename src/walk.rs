//! Expanding input paths into the files to read: the one walker of `hash`,
//! `scan` and the queue producer, in two shapes over the same rules.
//!
//! * [`walk`]: folders listed on several threads, every file found sent
//!   into a bounded channel (so a 100,000-file folder never piles up more
//!   than the channel holds), in no particular order (`scan`, `scan
//!   --queue`).
//! * [`sorted`]: a lazy iterator in a stable order, each root as given and
//!   folders depth-first in file-name order (`hash`, whose output is in
//!   input order).
//!
//! The rules both keep: no ignore-file semantics (a scan must see
//! everything, hidden files and `.gitignore`d folders included); symbolic
//! links followed by default (a tree of links is common in exported
//! evidence) with loop detection; every file comes with its size and mtime
//! (the resume key); anything that cannot be listed or stat'ed becomes an
//! error input, so it is reported and the walk goes on. Nothing here opens
//! files, so a fifo cannot block the walk.

use crate::error::{ErrorKind, ItemError};
use crate::progress::Progress;
use crate::scan::shard::Shard;
use crossbeam_channel::Sender;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The identity of a file for resuming: a file whose size or mtime changed
/// since it was scanned is scanned again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// One input of the scan.
#[derive(Debug)]
pub enum Input {
    File(FileKey),
    Failed(PathBuf, ItemError),
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec()
}

fn describe(err: &ignore::Error) -> (Option<PathBuf>, ItemError) {
    match err {
        ignore::Error::WithPath { path, err } => {
            let (_, e) = describe(err);
            (Some(path.clone()), e)
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            describe(err)
        }
        ignore::Error::Loop { ancestor, child } => (
            Some(child.clone()),
            ItemError::new(
                ErrorKind::Io,
                format!("skipped: symlink loop back to {}", ancestor.display()),
            ),
        ),
        ignore::Error::Io(e) => (None, ItemError::io("list", e)),
        other => (None, ItemError::new(ErrorKind::Io, other.to_string())),
    }
}

/// Walk `roots` on `threads` threads, sending every file (not folders) of
/// `shard` (all of them without one) to `tx`. Returns when the walk is
/// over, `stop` is set, or the receiver is gone.
pub fn walk(
    roots: &[PathBuf],
    follow_links: bool,
    threads: usize,
    shard: Option<Shard>,
    tx: &Sender<Input>,
    stop: &AtomicBool,
    progress: &dyn Progress,
) {
    let ours = |path: &Path| shard.is_none_or(|s| s.owns(path, roots));
    let Some((first, rest)) = roots.split_first() else {
        return;
    };
    let mut b = ignore::WalkBuilder::new(first);
    for r in rest {
        b.add(r);
    }
    b.standard_filters(false)
        .follow_links(follow_links)
        .threads(threads.max(1));
    b.build_parallel().run(|| {
        let tx = tx.clone();
        Box::new(move |res| {
            if stop.load(Ordering::Relaxed) {
                return ignore::WalkState::Quit;
            }
            let input = match res {
                Ok(entry) => {
                    if entry.file_type().is_some_and(|t| t.is_dir()) || !ours(entry.path()) {
                        return ignore::WalkState::Continue;
                    }
                    let Some(input) = input_of(entry) else {
                        return ignore::WalkState::Continue;
                    };
                    if let Input::File(k) = &input {
                        progress.found(k.size);
                    }
                    input
                }
                Err(e) => {
                    let (path, err) = describe(&e);
                    let path = path.unwrap_or_default();
                    if !ours(&path) {
                        return ignore::WalkState::Continue;
                    }
                    Input::Failed(path, err)
                }
            };
            if tx.send(input).is_err() {
                return ignore::WalkState::Quit;
            }
            ignore::WalkState::Continue
        })
    });
}

/// Options of [`sorted`].
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Follow symbolic links (with loop detection).
    pub follow_links: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { follow_links: true }
    }
}

/// Every file under `roots`, in order: each root as given, folders
/// depth-first sorted by file name. Lazy: inputs are produced as the walk
/// goes.
pub fn sorted<'a>(roots: &'a [PathBuf], opts: &WalkOptions) -> impl Iterator<Item = Input> + 'a {
    let follow = opts.follow_links;
    roots.iter().flat_map(move |root| {
        ignore::WalkBuilder::new(root)
            .standard_filters(false)
            .follow_links(follow)
            .sort_by_file_name(|a, b| a.cmp(b))
            .build()
            .filter_map(move |res| match res {
                Ok(entry) => {
                    if entry.file_type().is_some_and(|t| t.is_dir()) {
                        return None;
                    }
                    input_of(entry)
                }
                Err(e) => {
                    let (path, err) = describe(&e);
                    Some(Input::Failed(path.unwrap_or_else(|| root.clone()), err))
                }
            })
    })
}

/// The input for one listed entry: its key, or why it could not be
/// stat'ed; `None` for a folder.
fn input_of(entry: ignore::DirEntry) -> Option<Input> {
    Some(match entry.metadata() {
        Ok(m) if m.is_dir() => return None,
        Ok(m) => Input::File(FileKey {
            path: entry.into_path(),
            size: m.len(),
            mtime_ns: mtime_ns(&m),
        }),
        Err(e) => {
            let (_, err) = describe(&e);
            Input::Failed(entry.into_path(), err)
        }
    })
}

/// `stat` one path the way the walk does (for callers that have a single
/// file to key).
pub fn key_of(path: &Path) -> std::io::Result<FileKey> {
    let m = std::fs::metadata(path)?;
    Ok(FileKey {
        path: path.to_path_buf(),
        size: m.len(),
        mtime_ns: mtime_ns(&m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NullProgress;

    #[test]
    fn finds_every_file_including_hidden_and_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/.hidden")).unwrap();
        std::fs::write(d.join(".gitignore"), "*.jpg\n").unwrap();
        std::fs::write(d.join("a.jpg"), b"x").unwrap();
        std::fs::write(d.join("sub/.hidden/b"), b"yy").unwrap();
        let (tx, rx) = crossbeam_channel::bounded(2);
        let stop = AtomicBool::new(false);
        let roots = vec![d.to_path_buf(), d.join("missing")];
        let walker = std::thread::spawn({
            let roots = roots.clone();
            move || walk(&roots, true, 2, None, &tx, &stop, &NullProgress)
        });
        let got: Vec<Input> = rx.iter().collect();
        walker.join().unwrap();
        let mut files: Vec<String> = got
            .iter()
            .filter_map(|i| match i {
                Input::File(k) => Some(k.path.strip_prefix(d).unwrap().display().to_string()),
                Input::Failed(..) => None,
            })
            .collect();
        files.sort();
        assert_eq!(files, vec![".gitignore", "a.jpg", "sub/.hidden/b"]);
        assert!(got
            .iter()
            .any(|i| matches!(i, Input::Failed(p, _) if p.ends_with("missing"))));
    }

    #[test]
    fn sorted_lists_folders_depth_first_by_name_and_reports_what_it_cannot_list() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/.hidden")).unwrap();
        std::fs::write(d.join(".gitignore"), "*\n").unwrap();
        std::fs::write(d.join("c.jpg"), b"x").unwrap();
        std::fs::write(d.join("a.jpg"), b"xy").unwrap();
        std::fs::write(d.join("b/z"), b"z").unwrap();
        std::fs::write(d.join("b/.hidden/y"), b"y").unwrap();
        std::os::unix::fs::symlink(d, d.join("b/loop")).unwrap();
        let roots = vec![d.join("c.jpg"), d.to_path_buf(), d.join("missing")];
        let got: Vec<Input> = sorted(&roots, &WalkOptions::default()).collect();
        let names: Vec<String> = got
            .iter()
            .map(|i| match i {
                Input::File(k) => k.path.strip_prefix(d).unwrap().display().to_string(),
                Input::Failed(p, _) => format!("failed:{}", p.strip_prefix(d).unwrap().display()),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "c.jpg",
                ".gitignore",
                "a.jpg",
                "b/.hidden/y",
                "failed:b/loop",
                "b/z",
                "c.jpg",
                "failed:missing",
            ]
        );
        let Input::File(k) = &got[2] else {
            panic!("{got:?}")
        };
        assert_eq!(k.size, 2);
    }
}
