//! `hash --format tmk --output-dir DIR`: each video's TMK+PDQF as
//! `DIR/<name>.tmk`, the layout Meta's `tmk-hash-video` writes (read back
//! by its `tmk-two-level-score`, `tmk-query`, ...).

use anyhow::Context;
use hashsieve::escape::{escape, escape_display};
use hashsieve::record::FileRecord;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The output folder and the names written to it in this run.
pub struct TmkDir {
    dir: PathBuf,
    /// `<name>.tmk` -> the input it was written for.
    written: HashMap<OsString, String>,
}

impl TmkDir {
    /// Use `dir`, creating it if needed.
    pub fn create(dir: &Path) -> anyhow::Result<TmkDir> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating --output-dir {}", dir.display()))?;
        Ok(TmkDir {
            dir: dir.to_path_buf(),
            written: HashMap::new(),
        })
    }

    /// Write `rec`'s TMK; the line to print (the file written), or why
    /// there is none for this item.
    pub fn write(&mut self, rec: &FileRecord) -> Result<String, String> {
        let path = escape(&rec.path);
        if let Some(e) = &rec.error {
            return Err(format!("{path}: {}", escape_display(e)));
        }
        if rec.media != hashsieve::record::Media::Video {
            return Err(format!("{path}: not a video ({}), no TMK", rec.media));
        }
        let Some(hash) = &rec.tmk else {
            let why = rec
                .video
                .as_ref()
                .and_then(|v| v.tmk_error.as_deref())
                .unwrap_or("not computed");
            return Err(format!("{path}: no TMK+PDQF: {}", escape(why)));
        };
        let Some(stem) = rec.path_os.file_stem() else {
            return Err(format!("{path}: no file name to name its .tmk after"));
        };
        let mut name = stem.to_os_string();
        name.push(".tmk");
        let target = self.dir.join(&name);
        if let Some(first) = self.written.get(&name) {
            return Err(format!(
                "{path}: {} was already written for {first} in this run; not replaced",
                escape(&target.to_string_lossy())
            ));
        }
        write_atomically(&target, &hash.to_bytes())
            .map_err(|e| format!("{path}: writing {}: {e}", escape(&target.to_string_lossy())))?;
        self.written.insert(name, path.into_owned());
        Ok(format!("{}\n", escape(&target.to_string_lossy())))
    }
}

/// Write `bytes` to `target` through a temporary file in the same folder,
/// so a reader never sees half a `.tmk`.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    drop(tmp.1);
    std::fs::rename(&tmp.0, target).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp.0);
    })
}

/// A new file `.hashsieve-tmk-<pid>-<n>` in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".hashsieve-tmk-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
