//! Registry key paths: the root spelled out, `\` between names, no empty names.

/// The registry's root keys, and the short forms people write.
const ROOTS: &[(&str, &str)] = &[
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
];

/// `HKLM\Software\X\` → `HKEY_LOCAL_MACHINE\Software\X`; an error names
/// what is wrong. Names keep their case (the registry ignores it).
pub fn normalize(path: &str) -> Result<String, String> {
    let mut parts = path.split('\\').filter(|part| !part.is_empty());
    let first = parts.next().ok_or_else(|| "an empty registry key".to_string())?;
    let root = ROOTS
        .iter()
        .find(|(long, short)| first.eq_ignore_ascii_case(long) || first.eq_ignore_ascii_case(short))
        .map(|(long, _)| *long)
        .ok_or_else(|| {
            format!("registry key {path:?} must start with a root key such as HKEY_LOCAL_MACHINE or HKEY_USERS")
        })?;
    Ok(std::iter::once(root).chain(parts).collect::<Vec<_>>().join("\\"))
}

/// Whether a text names a registry key rather than a file path.
pub fn looks_like_key(text: &str) -> bool {
    let first = text.split('\\').next().unwrap_or_default();
    ROOTS
        .iter()
        .any(|(long, short)| first.eq_ignore_ascii_case(long) || first.eq_ignore_ascii_case(short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_spelled_out() {
        assert_eq!(
            normalize("HKLM\\Software\\X\\").unwrap(),
            "HKEY_LOCAL_MACHINE\\Software\\X"
        );
        assert_eq!(normalize("hkey_users").unwrap(), "HKEY_USERS");
        assert_eq!(normalize("\\HKCU\\\\a").unwrap(), "HKEY_CURRENT_USER\\a");
        assert!(
            normalize("SOFTWARE\\X")
                .unwrap_err()
                .contains("must start with a root key")
        );
        assert!(normalize("").is_err());
        assert!(looks_like_key("HKLM\\SYSTEM") && looks_like_key("HKEY_USERS"));
        assert!(!looks_like_key("/etc/hosts") && !looks_like_key("C:\\Windows"));
    }
}
