//! Spreadsheet formula injection in the CSV we write, and its undoing on
//! import.
//!
//! Excel, LibreOffice and Google Sheets run a CSV cell that starts with
//! `=`, `+`, `-` or `@` as a formula, and some skip a leading TAB or CR
//! before looking. File names, list names, labels, external ids and notes
//! are chosen by whoever made the file or the list, so a cell such as
//! `=HYPERLINK("http://...")` or `=cmd|' /C calc'!A0` would run on the
//! analyst's machine that opens our export. As OWASP recommends, such a
//! text cell is written with a leading `'`, which spreadsheets show as
//! text. Hashes (hex) and the numbers we write never start with these
//! characters and are not passed here, so they are never altered.
//!
//! Our import removes that quote again, so an export imports back to the
//! same entries. The rule is reversible: a cell gets one more `'` when,
//! after its leading quotes, it starts with a trigger, and import removes
//! one quote from exactly such cells. A label that really is `'=x` is
//! written `''=x` and comes back as `'=x`.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula
/// (OWASP's list).
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `cell`, past its leading quotes, starts with a trigger.
fn is_guarded_shape(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// `cell` as written to a CSV: with a leading `'` when a spreadsheet would
/// run it as a formula (or when it already looks like such a quoted cell,
/// so that [`restore`] gives back exactly `cell`).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if is_guarded_shape(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A text cell read from a CSV: the quote [`neutralise`] added, removed.
pub fn restore(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if is_guarded_shape(rest) => Cow::Owned(rest.to_string()),
        _ => Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_quoted() {
        assert_eq!(
            neutralise("=HYPERLINK(\"http://x\",\"y\")"),
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        for c in ["+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(neutralise(c), format!("'{c}"));
        }
    }

    #[test]
    fn other_cells_are_untouched() {
        for c in [
            "",
            "entity:x;behaviour:y",
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "42",
            " =x",
            "'",
            "'abc",
            "a=b",
        ] {
            assert!(matches!(neutralise(c), Cow::Borrowed(_)), "{c:?}");
            assert!(matches!(restore(c), Cow::Borrowed(_)), "{c:?}");
        }
    }

    #[test]
    fn restore_undoes_neutralise() {
        for c in [
            "=x", "'=x", "''=x", "+", "-", "@", "'", "''", "'a", "x", "", "\t", "'\r",
        ] {
            assert_eq!(restore(&neutralise(c)), c, "{c:?}");
        }
        // A quoted formula from another tool is read as the formula text.
        assert_eq!(restore("'=1+1"), "=1+1");
    }
}
