//! `%NAME%` variables in Windows paths. A `%` that does not open a
//! well-formed name (`C:\100% sure`) is text.

/// A variable name, `ProgramFiles(x86)` included.
pub fn is_var_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_()".contains(c))
}

/// Walks `text`, replacing each `%NAME%` with what `lookup` gives; a name it
/// does not know stays as written and the first such name is returned.
fn substitute(text: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> (String, Option<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unknown = None;
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if is_var_name(&after[..end]) => {
                let name = &after[..end];
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push_str(&rest[start..start + end + 2]);
                        unknown.get_or_insert_with(|| name.to_string());
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, unknown)
}

/// `text` with each `%NAME%` that `lookup` knows replaced; the others stay.
pub fn expand(text: &str, lookup: impl FnMut(&str) -> Option<String>) -> String {
    substitute(text, lookup).0
}

/// `text` with every `%NAME%` replaced, or the first name `lookup` does not know.
pub fn expand_all(text: &str, lookup: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
    match substitute(text, lookup) {
        (expanded, None) => Ok(expanded),
        (_, Some(unknown)) => Err(unknown),
    }
}

/// Whether `text` holds a `%NAME%`.
pub fn has_var(text: &str) -> bool {
    substitute(text, |_| None).1.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windir(name: &str) -> Option<String> {
        name.eq_ignore_ascii_case("windir").then(|| "C:\\Windows".to_string())
    }

    #[test]
    fn known_names_expand_and_the_others_stay() {
        assert_eq!(
            expand("%WINDIR%\\System32\\*.dll", windir),
            "C:\\Windows\\System32\\*.dll"
        );
        assert_eq!(expand("%NOPE%\\x", windir), "%NOPE%\\x");
        assert_eq!(expand("C:\\100%\\a%", windir), "C:\\100%\\a%");
        assert_eq!(expand("%%windir%", windir), "%C:\\Windows");
        assert_eq!(expand("%ProgramFiles(x86)%", |_| Some("P".into())), "P");
    }

    #[test]
    fn strict_expansion_names_the_first_unknown() {
        assert_eq!(expand_all("%windir%\\x", windir).unwrap(), "C:\\Windows\\x");
        assert_eq!(expand_all("%windir%\\%A%\\%B%", windir).unwrap_err(), "A");
        assert_eq!(expand_all("C:\\100% sure", windir).unwrap(), "C:\\100% sure");
    }

    #[test]
    fn variables_are_found() {
        assert!(has_var("%ProgramFiles%\\App"));
        assert!(!has_var("C:\\50% off") && !has_var("%%") && !has_var("%a b%"));
    }
}
