//! The exit codes of the commands that look for matches (`scan`, `match`):
//! one rule, so a batch system acts on them the same way everywhere.
//!
//! Matches (1) and errors (2) each have a code, and a run with both gets
//! their sum (3), not one of them: with "errors win" (grep's rule) a
//! damaged file next to a listed one would hide the match from a job that
//! only looks at the exit status, and the match is what it must act on.

/// Nothing matched and nothing went wrong.
pub const NO_MATCH: u8 = 0;
/// Matches found (suppressed hits do not count), no error.
pub const MATCHES: u8 = 1;
/// Errors happened (unreadable or damaged files, limits) and nothing
/// matched; also bad arguments.
pub const ERRORS: u8 = 2;
/// Matches found and errors happened.
pub const MATCHES_AND_ERRORS: u8 = 3;
/// `scan` stopped by Ctrl-C (SIGINT's conventional 128 + 2).
pub const INTERRUPTED: u8 = 130;

/// The exit code of a run that found matches or not, and had errors or not.
pub fn code(matched: bool, errors: bool) -> u8 {
    match (matched, errors) {
        (false, false) => NO_MATCH,
        (true, false) => MATCHES,
        (false, true) => ERRORS,
        (true, true) => MATCHES_AND_ERRORS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_its_code() {
        assert_eq!(code(false, false), 0);
        assert_eq!(code(true, false), 1);
        assert_eq!(code(false, true), 2);
        assert_eq!(code(true, true), 3);
    }
}
