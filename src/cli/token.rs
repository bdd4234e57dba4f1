//! `hashsieve token`: API tokens of `hashsieve serve`.

use hashdb::store::{Scope, TokenInfo};

use super::db::DbLocation;

/// Create, list and revoke API tokens (stored hashed in the database).
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub location: DbLocation,

    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints the secret alone on stdout (shown only now).
    Create {
        /// Scopes: match (hash and look up), write (change lists), admin
        /// (everything). Repeatable or comma-separated.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A name to recognise the token by (who or what uses it).
        #[arg(long, visible_alias = "name")]
        note: Option<String>,
        /// The token expires this long after now: days (`30`, `0.5`), or
        /// a number with a unit `s`, `m`, `h`, `d` (`12h`, `90m`). From
        /// then on the service answers it with 401, as a revoked token,
        /// without a restart.
        #[arg(long, value_name = "DAYS", conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// The token expires at this moment: `YYYY-MM-DD` (midnight UTC),
        /// `YYYY-MM-DDTHH:MM[:SS]Z` (UTC), or `@UNIX_SECONDS`.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
    },
    /// List tokens, never their secrets: id, name (`note`), scopes, when
    /// created, when it expires, when revoked, when last used (to about a
    /// minute, as the service records it). JSON Lines (times in Unix
    /// seconds, plus `state`: live, expired or revoked), or a table.
    List {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ListFormat,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Jsonl,
    Table,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds in `--expires-in`'s value.
fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 'd'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => anyhow::bail!("--expires-in {s:?}: the unit is one of s, m, h, d"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--expires-in {s:?}: not a number of days (or 12h, 90m)"))?;
    let secs = (v * scale).round();
    anyhow::ensure!(
        v.is_finite() && (1.0..1e11).contains(&secs),
        "--expires-in {s:?}: must be at least one second and less than 3,000 years"
    );
    Ok(secs as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Unix seconds of `--expires-at`'s value.
fn parse_time(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    let bad = || {
        anyhow::anyhow!(
            "--expires-at {s:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or @UNIX_SECONDS"
        )
    };
    if let Some(secs) = t.strip_prefix('@') {
        return secs.parse().map_err(|_| bad());
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let parts: Vec<&str> = date.split('-').collect();
    anyhow::ensure!(parts.len() == 3 && parts[0].len() == 4, bad());
    let (y, mo, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    anyhow::ensure!((1..=12).contains(&mo) && (1..=31).contains(&d), bad());
    let mut secs = days_from_civil(y, mo, d) * 86400;
    anyhow::ensure!(civil_from_days(secs / 86400) == (y, mo, d), bad());
    if let Some(tm) = time {
        let tm = tm.strip_suffix('Z').or_else(|| tm.strip_suffix('z'));
        let tm = tm.ok_or_else(|| {
            anyhow::anyhow!("--expires-at {s:?}: a time must be UTC, ending in Z")
        })?;
        let f: Vec<&str> = tm.split(':').collect();
        anyhow::ensure!(f.len() == 2 || f.len() == 3, bad());
        let (h, mi) = (num(f[0])?, num(f[1])?);
        let sec = if f.len() == 3 { num(f[2])? } else { 0 };
        anyhow::ensure!(
            h < 24 && mi < 60 && sec < 60 && h >= 0 && mi >= 0 && sec >= 0,
            bad()
        );
        secs += h * 3600 + mi * 60 + sec;
    }
    Ok(secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn iso(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn state(t: &TokenInfo, now: i64) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expired_at(now) {
        "expired"
    } else {
        "live"
    }
}

fn table(tokens: &[TokenInfo], now: i64) -> String {
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_string(), iso);
    let mut rows = vec![[
        "ID",
        "NAME",
        "SCOPES",
        "STATE",
        "CREATED",
        "EXPIRES",
        "REVOKED",
        "LAST USED",
    ]
    .map(String::from)];
    for t in tokens {
        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
        rows.push([
            t.id.to_string(),
            // A name is text for a person: control characters escaped.
            t.note.as_deref().map_or_else(
                || "-".to_string(),
                |n| hashsieve::escape::escape(n).into_owned(),
            ),
            scopes.join(","),
            state(t, now).to_string(),
            iso(t.created_at),
            opt(t.expires_at),
            opt(t.revoked_at),
            opt(t.last_used_at),
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn run(args: TokenArgs) -> anyhow::Result<u8> {
    let mut store = args.location.open()?;
    match args.command {
        TokenCommand::Create {
            scopes,
            note,
            expires_in,
            expires_at,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let expires = match (expires_in, expires_at) {
                (Some(d), _) => Some(now().saturating_add(parse_duration(&d)?)),
                (None, Some(t)) => {
                    let t = parse_time(&t)?;
                    anyhow::ensure!(t > now(), "--expires-at {} is not in the future", iso(t));
                    Some(t)
                }
                (None, None) => None,
            };
            let (id, secret) = store.create_token(&scopes, note.as_deref(), expires)?;
            println!("{secret}");
            match expires {
                Some(t) => eprintln!(
                    "created token {id}, expiring {}; store it now, it is not shown again",
                    iso(t)
                ),
                None => eprintln!("created token {id}; store it now, it is not shown again"),
            }
        }
        TokenCommand::List { format } => {
            let tokens = store.tokens()?;
            let now = now();
            match format {
                ListFormat::Jsonl => {
                    for t in &tokens {
                        let mut v = serde_json::to_value(t)?;
                        v["state"] = state(t, now).into();
                        println!("{v}");
                    }
                }
                ListFormat::Table => print!("{}", table(&tokens, now)),
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id)?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), 30 * 86400);
        assert_eq!(parse_duration("0.5").unwrap(), 43200);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3600);
        assert_eq!(parse_duration("90m").unwrap(), 5400);
        assert_eq!(parse_duration("3s").unwrap(), 3);
        for bad in ["", "x", "-1", "0", "5w", "nan", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(parse_time("2024-02-29T12:30Z").unwrap(), 1_709_209_800);
        assert_eq!(parse_time("2024-02-29T12:30:15Z").unwrap(), 1_709_209_815);
        assert_eq!(parse_time("@42").unwrap(), 42);
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T10:00",
            "24-01-01",
            "soon",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert_eq!(iso(1_709_209_815), "2024-02-29T12:30:15Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
    }
}
