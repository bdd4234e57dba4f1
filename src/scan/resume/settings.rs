//! What a run's records depend on besides its files: the lists they were
//! matched against and the flags that change records. A run resumed with
//! either changed would replay records that a fresh scan would not give
//! (a match against an entry since disabled, none against one since
//! added, other views or limits), so both are kept with the run and
//! compared on resume.

use std::collections::BTreeMap;

/// The settings of a run (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// The lists' match fingerprint (`hashdb::store::Store::match_fingerprint`);
    /// `None` when nothing is matched (no database).
    pub lists: Option<String>,
    /// Every flag that changes records, by its name (`--views`), with its
    /// value as given or defaulted; presentation flags (report format,
    /// threads, progress) are left out.
    pub flags: BTreeMap<String, String>,
}

impl RunSettings {
    /// The flags as stored with the run (a JSON object).
    pub(super) fn flags_json(&self) -> String {
        serde_json::to_string(&self.flags).unwrap_or_else(|_| "{}".into())
    }

    /// The flags stored by [`RunSettings::flags_json`]; `None` when the
    /// text is not such an object.
    pub(super) fn parse_flags(text: &str) -> Option<BTreeMap<String, String>> {
        serde_json::from_str(text).ok()
    }

    /// How the flags differ from `stored`, one description per flag
    /// (`--views (was all, now none)`), in name order; empty when equal.
    pub fn flag_changes(&self, stored: &BTreeMap<String, String>) -> Vec<String> {
        let unset = "unset";
        let mut names: Vec<&String> = self.flags.keys().chain(stored.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| {
                let (was, now) = (stored.get(name), self.flags.get(name));
                (was != now).then(|| {
                    format!(
                        "{name} (was {}, now {})",
                        was.map_or(unset, String::as_str),
                        now.map_or(unset, String::as_str)
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changed_added_and_removed_flags_are_named() {
        let now = RunSettings {
            lists: None,
            flags: flags(&[("--views", "none"), ("--max-depth", "3"), ("--new", "1")]),
        };
        let stored = flags(&[("--views", "all"), ("--max-depth", "3"), ("--old", "x")]);
        assert_eq!(
            now.flag_changes(&stored),
            vec![
                "--new (was unset, now 1)",
                "--old (was x, now unset)",
                "--views (was all, now none)"
            ]
        );
        assert!(now.flag_changes(&now.flags).is_empty());
        assert_eq!(
            RunSettings::parse_flags(&now.flags_json()),
            Some(now.flags.clone())
        );
        assert_eq!(RunSettings::parse_flags("[1]"), None);
    }
}
