//! Expanding input paths into the files to hash, in a stable order.
//!
//! Folders are walked recursively in file-name order, following symlinks
//! (a tree of links is common in exported evidence) with loop detection.
//! Anything that cannot be listed becomes an error item, so it is reported
//! and the walk goes on; nothing here opens files, so a fifo cannot block.

use crate::error::{ErrorKind, ItemError};
use std::path::{Path, PathBuf};

/// One input: a path to hash, or a path that could not be listed.
#[derive(Debug)]
pub enum WalkItem {
    File(PathBuf),
    Failed(PathBuf, ItemError),
}

/// Walk options.
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
/// recursively sorted by name. Lazy: items are produced as the walk goes.
pub fn walk<'a>(roots: &'a [PathBuf], opts: &WalkOptions) -> impl Iterator<Item = WalkItem> + 'a {
    let follow = opts.follow_links;
    roots.iter().flat_map(move |root| walk_root(root, follow))
}

fn walk_root(root: &Path, follow: bool) -> Box<dyn Iterator<Item = WalkItem>> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Box::new(std::iter::once(WalkItem::File(root.to_path_buf()))),
        Err(e) => {
            // A dangling link or a missing path: report it.
            return Box::new(std::iter::once(WalkItem::Failed(
                root.to_path_buf(),
                ItemError::io("stat", &e),
            )));
        }
    }
    let wd = walkdir::WalkDir::new(root)
        .follow_links(follow)
        .sort_by_file_name();
    Box::new(wd.into_iter().filter_map(|entry| match entry {
        Ok(e) if e.file_type().is_dir() => None,
        Ok(e) => Some(WalkItem::File(e.into_path())),
        Err(err) => {
            let path = err.path().map(Path::to_path_buf).unwrap_or_default();
            let item = if let Some(ancestor) = err.loop_ancestor() {
                ItemError::new(
                    ErrorKind::Io,
                    format!("skipped: symlink loop back to {}", ancestor.display()),
                )
            } else if let Some(io) = err.io_error() {
                ItemError::io("list", io)
            } else {
                ItemError::new(ErrorKind::Io, err.to_string())
            };
            Some(WalkItem::Failed(path, item))
        }
    }))
}
