//! SQL functions for KQL's string semantics, which SQLite lacks: Unicode
//! case folding (SQLite's `LIKE` and `lower` fold ASCII only) and `has`,
//! which matches whole terms.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, types::ValueRef};

/// Adds the functions translated queries call to `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // kql_text(op, case_sensitive, subject, pattern) → 0 or 1.
    conn.create_scalar_function("kql_text", 4, flags, |ctx| {
        let op: i64 = ctx.get(0)?;
        let case_sensitive: bool = ctx.get(1)?;
        let subject = text(ctx.get_raw(2));
        let pattern = text(ctx.get_raw(3));
        Ok(text_match(op, case_sensitive, &subject, &pattern))
    })?;
    // kql_case(text, upper) → the text in lower (0) or upper (1) case.
    conn.create_scalar_function("kql_case", 2, flags, |ctx| {
        let subject = text(ctx.get_raw(0));
        let upper: bool = ctx.get(1)?;
        Ok(if upper {
            subject.to_uppercase()
        } else {
            subject.to_lowercase()
        })
    })
}

/// A value as KQL sees it in a string operation: null is the empty string,
/// numbers are their text.
fn text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Blob(raw) => crate::exact_path::display(raw),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

/// Operation codes: 0 equals, then [`super::ast::TextOp::code`].
pub fn text_match(op: i64, case_sensitive: bool, subject: &str, pattern: &str) -> bool {
    let (subject, pattern) = if case_sensitive {
        (subject.to_string(), pattern.to_string())
    } else {
        (subject.to_lowercase(), pattern.to_lowercase())
    };
    match op {
        0 => subject == pattern,
        1 => subject.contains(&pattern),
        2 => has_term(&subject, &pattern),
        3 => subject.starts_with(&pattern),
        4 => subject.ends_with(&pattern),
        _ => false,
    }
}

/// `has`: `pattern` occurs in `subject` as whole terms, a term being a run of
/// letters and digits. Where the pattern starts (ends) with a letter or
/// digit, the subject must not continue the term before (after) it.
fn has_term(subject: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let is_term_char = |c: char| c.is_alphanumeric();
    let open_start = pattern.starts_with(is_term_char);
    let open_end = pattern.ends_with(is_term_char);
    subject.match_indices(pattern).any(|(start, found)| {
        let end = start + found.len();
        let before_ok = !open_start || !subject[..start].ends_with(is_term_char);
        let after_ok = !open_end || !subject[end..].starts_with(is_term_char);
        before_ok && after_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms_only() {
        assert!(has_term("the ssh daemon", "ssh"));
        assert!(has_term("openssh-server", "server"));
        assert!(!has_term("openssh-server", "ssh"));
        assert!(has_term("c:\\windows\\system32", "windows"));
        assert!(!has_term("c:\\windows\\system32", "system"));
        assert!(has_term("a.b.c", ".b."));
        assert!(has_term("anything", ""));
    }

    #[test]
    fn case_rules() {
        assert!(text_match(1, false, "C:\\Windows\\System32", "windows\\system32"));
        assert!(!text_match(1, true, "C:\\Windows\\System32", "windows"));
        assert!(text_match(0, false, "ÉTÉ", "été"), "folding is Unicode, not ASCII only");
        assert!(text_match(3, false, "Microsoft Monitoring Agent", "microsoft"));
        assert!(text_match(4, false, "sshd.service", ".SERVICE"));
        assert!(!text_match(4, true, "sshd.service", ".SERVICE"));
    }
}
