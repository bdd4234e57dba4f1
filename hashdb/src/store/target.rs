//! Which database a `--db` string names: an SQLite file (any path) or a
//! PostgreSQL server (`postgresql://` or `postgres://`).
//!
//! Why parsed from the same string: `--db` and `$HASHSIEVE_DB` already
//! carry a path everywhere (CLI, service config, the matcher's TMK file
//! readers), so one string that may be a URL keeps every caller as it was.
//! A file whose name really starts with `postgresql://` can still be named
//! as `./postgresql://...`.
//!
//! The URL may hold a password: [`DbTarget::display_path`] is what may be
//! printed or logged (the password replaced), the target itself is what
//! reopens the database.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgresql://user:pass@host:port/db`).
    Postgres(String),
}

const SCHEMES: [&str; 2] = ["postgresql://", "postgres://"];

impl DbTarget {
    /// What `s` names: a URL with a PostgreSQL scheme, else a file path.
    pub fn parse(s: impl AsRef<OsStr>) -> DbTarget {
        let s = s.as_ref();
        match s.to_str() {
            Some(u) if SCHEMES.iter().any(|p| u.starts_with(p)) => {
                DbTarget::Postgres(u.to_string())
            }
            _ => DbTarget::Sqlite(PathBuf::from(s)),
        }
    }

    /// Whether this is a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DbTarget::Postgres(_))
    }

    /// The target as it may be shown: the path, or the URL with any
    /// password replaced by `***`.
    pub fn display_path(&self) -> PathBuf {
        match self {
            DbTarget::Sqlite(p) => p.clone(),
            DbTarget::Postgres(u) => PathBuf::from(redact(u)),
        }
    }

    /// The string that names this target again (the full URL, with its
    /// password: not for display).
    pub fn as_os_str(&self) -> &OsStr {
        match self {
            DbTarget::Sqlite(p) => p.as_os_str(),
            DbTarget::Postgres(u) => OsStr::new(u),
        }
    }
}

impl From<&Path> for DbTarget {
    fn from(p: &Path) -> DbTarget {
        DbTarget::parse(p)
    }
}

/// Never prints a password (`{:?}` included).
impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display_path().display())
    }
}

impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display_path().display())
    }
}

/// `scheme://user:secret@host/db?password=x` -> `scheme://user:***@host/db?password=***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    // The user information ends at the last `@` before the path.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    // sslpassword (refused, see pg/tls.rs) is a secret too.
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password")
                            || k.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{k}=***")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_everything_else_a_file() {
        assert!(DbTarget::parse("postgresql://h/db").is_postgres());
        assert!(DbTarget::parse("postgres://h/db").is_postgres());
        assert_eq!(
            DbTarget::parse("./postgresql://x"),
            DbTarget::Sqlite(PathBuf::from("./postgresql://x"))
        );
        assert_eq!(
            DbTarget::parse("lists.db"),
            DbTarget::Sqlite(PathBuf::from("lists.db"))
        );
    }

    #[test]
    fn passwords_never_show() {
        let t = DbTarget::parse(
            "postgresql://alice:s3cr@t@db.example:5432/lists?password=x&sslmode=disable&sslpassword=x",
        );
        let shown = format!("{t} {t:?} {}", t.display_path().display());
        assert!(!shown.contains("s3cr") && !shown.contains("=x"), "{shown}");
        assert!(shown.contains("alice:***@db.example:5432/lists"), "{shown}");
        assert!(shown.contains("sslmode=disable"), "{shown}");
        // The target itself keeps the secret, to reopen the database.
        assert!(t.as_os_str().to_str().unwrap().contains("s3cr@t"));
        assert_eq!(
            DbTarget::parse("postgres://h:5/d").display_path(),
            PathBuf::from("postgres://h:5/d")
        );
    }
}
