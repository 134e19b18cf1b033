//! KQL's string semantics, which SQL engines do not share: Unicode case
//! folding (SQLite's `LIKE` and `lower` fold ASCII only) and `has`, which
//! matches whole terms. Each store exposes these as the SQL functions that
//! translated queries call: `kql_text(op, case_sensitive, subject, pattern)`
//! and `kql_case(text, upper)`.

/// `kql_text`: does `subject` match `pattern` under operation `op` (0
/// equals, then [`crate::ast::TextOp::code`]: 1 contains, 2 has, 3
/// startswith, 4 endswith)?
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

/// `kql_case`: the text in upper or lower case, Unicode-aware.
pub fn change_case(subject: &str, upper: bool) -> String {
    if upper {
        subject.to_uppercase()
    } else {
        subject.to_lowercase()
    }
}

/// `has`: `pattern` occurs in `subject` as whole terms, a term being a run of
/// letters and digits. Where the pattern starts (ends) with a letter or
/// digit, the subject must not continue the term before (after) it.
pub fn has_term(subject: &str, pattern: &str) -> bool {
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
