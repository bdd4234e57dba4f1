//! `scan --shard I/N`: a stable partition of a scan by file path, for job
//! arrays without a broker (Kubernetes Indexed Jobs, Slurm arrays). Every
//! shard walks the same roots and keeps the files whose path hashes to its
//! index, so the N shards together scan every file exactly once with no
//! coordination at all.
//!
//! The key is the path relative to the root it was found under (a root
//! that is a file: its name), so machines that mount the same data at
//! different places still agree. The hash is BLAKE3, whose output does not
//! depend on the platform or the Rust version (std's hasher may change).
//! An archive belongs to the shard of its own path: its members are never
//! split between shards.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Shard `index` of `count` (0-based index, as Kubernetes' completion
/// index and Slurm's array task id minus its offset are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// A `--shard` value that is not `I/N` with `0 <= I < N`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("a shard is I/N (for example 0/4): {0:?} has no '/'")]
    NoSlash(String),
    #[error("shard index and count must be whole numbers: {0:?}")]
    NotNumber(String),
    #[error("the shard count must be at least 1")]
    ZeroCount,
    #[error("shard index {index} is not below the count {count} (indexes start at 0)")]
    IndexTooLarge { index: u32, count: u32 },
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount);
        }
        if index >= count {
            return Err(ShardError::IndexTooLarge { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard scans `path`, found while walking `roots`.
    /// Paths with no known root (an error of the walk without a path) go
    /// to shard 0, so each is still reported exactly once.
    pub fn owns(&self, path: &Path, roots: &[PathBuf]) -> bool {
        if self.count == 1 {
            return true;
        }
        match key(path, roots) {
            Some(k) => self.index_of(k) == self.index,
            None => self.index == 0,
        }
    }

    fn index_of(&self, key: &OsStr) -> u32 {
        let h = blake3::hash(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.as_bytes()[..8]);
        // 64 bits modulo a count below 2^32: the bias is below 2^-32.
        (u64::from_le_bytes(first) % u64::from(self.count)) as u32
    }
}

/// The path relative to the longest root it lies under, or the path as
/// it is when none (a root given as a file is its own key: its name).
fn key<'a>(path: &'a Path, roots: &[PathBuf]) -> Option<&'a OsStr> {
    if path.as_os_str().is_empty() {
        return None;
    }
    let under = roots
        .iter()
        .filter_map(|r| path.strip_prefix(r).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .min_by_key(|rel| rel.as_os_str().len());
    Some(match under {
        Some(rel) => rel.as_os_str(),
        None => path.file_name().unwrap_or(path.as_os_str()),
    })
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ShardError::NoSlash(s.to_string()))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| ShardError::NotNumber(s.to_string()))
        };
        Shard::new(num(i)?, num(n)?)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/5".parse::<Shard>(), Shard::new(2, 5));
        assert_eq!(
            "5/5".parse::<Shard>(),
            Err(ShardError::IndexTooLarge { index: 5, count: 5 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::ZeroCount));
        assert!(matches!(
            "x/2".parse::<Shard>(),
            Err(ShardError::NotNumber(_))
        ));
        assert!(matches!("3".parse::<Shard>(), Err(ShardError::NoSlash(_))));
        assert!(matches!(
            "-1/2".parse::<Shard>(),
            Err(ShardError::NotNumber(_))
        ));
    }

    #[test]
    fn every_path_in_exactly_one_shard_and_spread_evenly() {
        let roots = vec![PathBuf::from("/data")];
        let n = 7;
        let mut counts = vec![0u32; n as usize];
        for i in 0..7000 {
            let p = PathBuf::from(format!("/data/d{}/f{i}.jpg", i % 13));
            let owners: Vec<u32> = (0..n)
                .filter(|&s| Shard::new(s, n).unwrap().owns(&p, &roots))
                .collect();
            assert_eq!(owners.len(), 1, "{p:?} owned by {owners:?}");
            counts[owners[0] as usize] += 1;
        }
        // 1000 expected each; a stable hash spreads within a few percent.
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_key_does_not_depend_on_where_the_data_is_mounted() {
        for s in 0..5 {
            let shard = Shard::new(s, 5).unwrap();
            for name in ["a.jpg", "x/y/z.mp4", "deep/er/archive.zip"] {
                let here = shard.owns(&Path::new("/mnt/a").join(name), &[PathBuf::from("/mnt/a")]);
                let there = shard.owns(
                    &Path::new("/srv/copy").join(name),
                    &[PathBuf::from("/srv/copy/")],
                );
                assert_eq!(here, there, "{name} in shard {s}");
            }
        }
        // A root that is a file keys by its name; a path-less error goes
        // to shard 0 only.
        let file = Path::new("/tmp/one.jpg");
        let owners = (0..3)
            .filter(|&s| Shard::new(s, 3).unwrap().owns(file, &[file.to_path_buf()]))
            .count();
        assert_eq!(owners, 1);
        assert!(Shard::new(0, 3).unwrap().owns(Path::new(""), &[]));
        assert!(!Shard::new(1, 3).unwrap().owns(Path::new(""), &[]));
    }
}
