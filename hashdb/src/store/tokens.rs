//! API tokens of the HTTP service: bearer secrets with scopes.
//!
//! Why here: the tokens guard the lists, so they live in the same file as
//! the lists (one thing to back up, one thing to protect). Only a BLAKE3
//! hash of each secret is stored: a copy of the database does not give
//! anyone a working token. The secret itself is shown once, at creation.
//! Secrets are 256 random bits from the OS, so a fast hash is enough (there
//! is nothing to brute-force).
//!
//! A token may expire (`expires_at`): from that second on it is refused as
//! a revoked one is. It stays in the table (listed, never reused), so a
//! database that has had tokens is never mistaken for one that has none.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::io::Read;

use super::{now, SqliteStore};
use crate::error::StoreError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Hash uploads and look hashes up.
    Match,
    /// Change lists and entries.
    Write,
    /// Everything.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Match => "match",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Parse `match`, `write` or `admin`.
    pub fn parse(s: &str) -> Result<Scope, StoreError> {
        match s.trim() {
            "match" => Ok(Scope::Match),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(StoreError::Invalid {
                field: "scope",
                message: format!("{other:?} is not one of match, write, admin"),
            }),
        }
    }
}

/// A stored token (never its secret). Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub scopes: Vec<Scope>,
    /// Its name: who or what uses it.
    pub note: Option<String>,
    pub created_at: i64,
    /// From this second on the token is refused; `None`: never expires.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// When the service last accepted it (to about a minute); `None`:
    /// never, or not since this was recorded.
    pub last_used_at: Option<i64>,
}

impl TokenInfo {
    /// Whether the token has expired at `now`.
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// Whether the token is usable at `now`: neither revoked nor expired.
    pub fn live_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && !self.expired_at(now)
    }

    /// Whether the token's scopes grant `scope` (`admin` grants every
    /// scope), whatever its state.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }

    /// Whether the token grants `scope` now: live, and with the scope.
    pub fn allows(&self, scope: Scope) -> bool {
        self.live_at(now()) && self.has_scope(scope)
    }
}

/// The stored form of a secret: its BLAKE3 hash.
pub fn token_hash(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

pub(super) const TABLE: &str = "api_tokens";

pub(super) fn scopes_text(scopes: &[Scope]) -> String {
    let mut v: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v.join(",")
}

pub(super) fn parse_scopes(text: &str) -> Result<Vec<Scope>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Scope::parse(s).map_err(|_| StoreError::Corrupt {
                table: TABLE,
                message: format!("unknown scope {s:?}"),
            })
        })
        .collect()
}

pub(super) fn random_secret() -> Result<String, StoreError> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| StoreError::Invalid {
            field: "token",
            message: format!("reading the system random source: {e}"),
        })?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("hs_{hex}"))
}

impl SqliteStore {
    /// Create a token; returns its id and its secret (shown only now).
    /// `expires_at` (Unix seconds) ends it; `None`: it lasts until revoked.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an empty scope set or an expiry that is
    /// not in the future.
    pub fn create_token(
        &mut self,
        scopes: &[Scope],
        note: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(i64, String), StoreError> {
        if scopes.is_empty() {
            return Err(StoreError::Invalid {
                field: "scope",
                message: "a token needs at least one scope".into(),
            });
        }
        let created = now();
        if let Some(e) = expires_at {
            if e <= created {
                return Err(StoreError::Invalid {
                    field: "expires_at",
                    message: format!("{e} is not in the future (now: {created})"),
                });
            }
        }
        let secret = random_secret()?;
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO api_tokens (hash, scopes, note, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                &token_hash(&secret)[..],
                scopes_text(scopes),
                note,
                created,
                expires_at
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok((id, secret))
    }

    /// Revoke token `id` (idempotent).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when there is no such token.
    pub fn revoke_token(&mut self, id: i64) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id, now()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid {
                field: "token",
                message: format!("no token with id {id}"),
            });
        }
        tx.commit()?;
        Ok(())
    }

    /// Record that tokens were used: `(id, unix seconds)` pairs; a time
    /// never moves back.
    pub fn record_token_use(&mut self, uses: &[(i64, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let tx = self.immediate()?;
        {
            let mut st = tx.prepare_cached(
                "UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) \
                 WHERE id = ?1",
            )?;
            for (id, at) in uses {
                st.execute(params![id, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether any token was ever created here (live, expired or revoked).
    pub fn has_any_token(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM api_tokens)", [], |r| {
                r.get::<_, bool>(0)
            })?)
    }

    /// Every token, revoked or not, by id.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.token_rows()
            .map(|v| v.into_iter().map(|(_, t)| t).collect())
    }

    /// Every token with the hash of its secret (what a server checks
    /// presented secrets against).
    pub fn token_rows(&self) -> Result<Vec<([u8; 32], TokenInfo)>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, hash, scopes, note, created_at, revoked_at, expires_at, last_used_at \
             FROM api_tokens ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ),
                (
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((id, hash, scopes, note), (created_at, revoked_at, expires_at, last_used_at)) =
                row?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt {
                table: TABLE,
                message: "token hash is not 32 bytes".into(),
            })?;
            out.push((
                hash,
                TokenInfo {
                    id,
                    scopes: parse_scopes(&scopes)?,
                    note,
                    created_at,
                    expires_at,
                    revoked_at,
                    last_used_at,
                },
            ));
        }
        Ok(out)
    }

    /// The live token (neither revoked nor expired) whose secret is
    /// `secret`, if any.
    pub fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        let h = token_hash(secret);
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL",
                [&h[..]],
                |r| r.get(0),
            )
            .optional()?;
        let t = id.and_then(|id| self.tokens().ok()?.into_iter().find(|t| t.id == id));
        Ok(t.filter(|t| t.live_at(now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::backend_tests::both! {
    fn create_verify_revoke(db) {
        let mut s = db.open();
        assert!(!s.has_any_token().unwrap());
        let (id, secret) = s.create_token(&[Scope::Match], Some("ci"), None).unwrap();
        assert!(secret.starts_with("hs_") && secret.len() == 67);
        let t = s.verify_token(&secret).unwrap().unwrap();
        assert!(t.allows(Scope::Match) && !t.allows(Scope::Write));
        assert!(s.verify_token("hs_wrong").unwrap().is_none());
        // Only the hash is stored.
        let stored = db.query_bytes(&format!("SELECT hash FROM api_tokens WHERE id = {id}"));
        assert_eq!(stored, token_hash(&secret));
        assert_ne!(stored, secret.as_bytes());
        s.revoke_token(id).unwrap();
        assert!(s.verify_token(&secret).unwrap().is_none());
        assert!(s.revoke_token(999).is_err());
        assert!(s.create_token(&[], None, None).is_err());
        // Revoked, and still counted: the database has had tokens.
        assert!(s.has_any_token().unwrap());
        let (_, admin) = s.create_token(&[Scope::Admin], None, None).unwrap();
        assert!(s
            .verify_token(&admin)
            .unwrap()
            .unwrap()
            .allows(Scope::Write));
    }
    }

    crate::store::backend_tests::both! {
    fn expiry_and_last_use(db) {
        let mut s = db.open();
        let t0 = now();
        assert!(s.create_token(&[Scope::Match], None, Some(t0)).is_err());
        assert!(s.create_token(&[Scope::Match], None, Some(t0 - 5)).is_err());
        let (id, secret) = s
            .create_token(&[Scope::Match], Some("soon"), Some(t0 + 3600))
            .unwrap();
        let t = s.verify_token(&secret).unwrap().unwrap();
        assert_eq!(t.expires_at, Some(t0 + 3600));
        assert!(t.live_at(t0) && !t.live_at(t0 + 3600) && t.expired_at(t0 + 4000));
        // Expired in the table: refused as a revoked token is.
        db.execute(&format!(
            "UPDATE api_tokens SET expires_at = {} WHERE id = {id}",
            t0 - 1
        ));
        assert!(s.verify_token(&secret).unwrap().is_none());
        assert!(!s.tokens().unwrap()[0].allows(Scope::Match));
        assert!(s.tokens().unwrap()[0].has_scope(Scope::Match));
        s.record_token_use(&[(id, 100), (id, 50)]).unwrap();
        assert_eq!(s.tokens().unwrap()[0].last_used_at, Some(100));
    }
    }
}
