//! Tracked file paths: environment variables, wildcards, and the grants they imply.

use windows_paths::env_vars;

/// Expands `$VAR` and `${VAR}` from the agent's own environment — never the
/// plugin's, which has none. Windows' `%VAR%` stays: it belongs to the
/// machine being collected (see `windows_paths::env_vars`).
pub fn expand_env(path: &str) -> Result<String, String> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("unclosed `${{` in {path:?}"))?;
            (&braced[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = std::env::var(name).map_err(|_| format!("environment variable {name} in {path:?} is not set"))?;
        out.push_str(&value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// An absolute path with wildcards in its last segment only (`/etc/*.conf`);
/// a Windows path may start with a variable (`%WINDIR%\\System32`).
pub fn check_path(path: &str) -> Result<(), String> {
    let starts_with_var =
        path.starts_with('%') && env_vars::has_var(path.split(['\\', '/']).next().unwrap_or_default());
    if !path.starts_with('/') && !looks_like_windows_absolute(path) && !starts_with_var {
        return Err(format!("tracked path {path:?} is not absolute"));
    }
    let (dir, _) = split_last(path);
    if has_wildcard(dir) {
        return Err(format!(
            "tracked path {path:?} has a wildcard before its last segment; wildcards are allowed in the last segment only"
        ));
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!("tracked path {path:?} must not contain `..`"));
    }
    // Plugins get names that are not UTF-8 with U+FFFD standing for their
    // odd bytes (see `exact_path`); a path written with one would be read so.
    if path.contains('\u{FFFD}') {
        return Err(format!(
            "tracked path {path:?} holds U+FFFD (the replacement character), which cannot name a file here"
        ));
    }
    Ok(())
}

fn looks_like_windows_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && (bytes[2] == b'\\' || bytes[2] == b'/')
}

/// The folder part and the last segment.
fn split_last(path: &str) -> (&str, &str) {
    match path.rfind(['/', '\\']) {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// What a tracked path needs to be readable: its folder when its last segment
/// is a pattern, the path itself otherwise.
pub fn grant_for(path: &str) -> String {
    let (dir, last) = split_last(path);
    let grant = if has_wildcard(last) { dir } else { path };
    let trimmed = grant.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() { "/".into() } else { trimmed.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_come_from_the_agent() {
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("DW_TEST_HOME", "/home/alice") };
        assert_eq!(expand_env("$DW_TEST_HOME/.ssh/*").unwrap(), "/home/alice/.ssh/*");
        assert_eq!(expand_env("${DW_TEST_HOME}x").unwrap(), "/home/alicex");
        assert_eq!(
            expand_env("%DW_TEST_HOME%\\x").unwrap(),
            "%DW_TEST_HOME%\\x",
            "Windows variables wait"
        );
        assert_eq!(expand_env("/var/100%/a").unwrap(), "/var/100%/a");
        assert_eq!(expand_env("/cost$").unwrap(), "/cost$");
        assert!(expand_env("$DW_SURELY_UNSET_VAR/x").unwrap_err().contains("is not set"));
    }

    #[test]
    fn a_windows_path_may_start_with_a_variable() {
        assert!(check_path("%WINDIR%\\System32\\drivers\\etc\\hosts").is_ok());
        assert!(check_path("%WINDIR%\\*\\x").is_err());
        assert!(check_path("%NOT A VAR%\\x").unwrap_err().contains("not absolute"));
    }

    #[test]
    fn wildcards_only_in_the_last_segment() {
        assert!(check_path("/etc/*.conf").is_ok());
        assert!(check_path("/etc/ssh/sshd_config").is_ok());
        assert!(check_path("C:\\Windows\\System32\\drivers\\etc\\hosts").is_ok());
        assert!(check_path("/etc/*/x.conf").unwrap_err().contains("last segment only"));
        assert!(check_path("etc/hosts").unwrap_err().contains("not absolute"));
        assert!(check_path("/etc/../root").is_err());
        assert!(check_path("/data/bad\u{FFFD}ff").unwrap_err().contains("U+FFFD"));
    }

    #[test]
    fn grants_cover_what_is_tracked() {
        assert_eq!(grant_for("/etc/*.conf"), "/etc");
        assert_eq!(grant_for("/etc/hosts"), "/etc/hosts");
        assert_eq!(grant_for("/var/www/"), "/var/www");
        assert_eq!(grant_for("/*"), "/");
    }
}
