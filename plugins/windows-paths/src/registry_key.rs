//! Registry key paths: the root spelled out, `\` between names, no empty
//! names. Names keep their case; the registry compares them without it.

use std::fmt;

/// The registry's root keys, and the short forms people write.
pub const ROOTS: &[(&str, &str)] = &[
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
];

/// Why a text is not a registry key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPathError {
    Empty,
    /// The first name is not a root key.
    NoRoot(String),
}

impl fmt::Display for KeyPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPathError::Empty => f.write_str("an empty registry key"),
            KeyPathError::NoRoot(path) => write!(
                f,
                "registry key {path:?} must start with a root key such as HKEY_LOCAL_MACHINE or HKEY_USERS"
            ),
        }
    }
}

impl std::error::Error for KeyPathError {}

/// The long name of a root key given in either form, ignoring case.
fn root(name: &str) -> Option<&'static str> {
    ROOTS
        .iter()
        .find(|(long, short)| name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(short))
        .map(|(long, _)| *long)
}

/// `HKLM\Software\X\` → `HKEY_LOCAL_MACHINE\Software\X`.
pub fn normalize(path: &str) -> Result<String, KeyPathError> {
    let mut names = path.split('\\').filter(|name| !name.is_empty());
    let first = names.next().ok_or(KeyPathError::Empty)?;
    let root = root(first).ok_or_else(|| KeyPathError::NoRoot(path.to_string()))?;
    Ok(std::iter::once(root).chain(names).collect::<Vec<_>>().join("\\"))
}

/// Whether a text names a registry key rather than a file path.
pub fn looks_like_key(text: &str) -> bool {
    root(text.split('\\').next().unwrap_or_default()).is_some()
}

/// Whether `key` is `ancestor` or lies below it, names compared without
/// regard to case: `HKEY_LOCAL_MACHINE\Software` holds
/// `HKEY_LOCAL_MACHINE\SOFTWARE\X`, but not `HKEY_LOCAL_MACHINE\SoftwareX`.
pub fn is_within(key: &str, ancestor: &str) -> bool {
    key.len() >= ancestor.len()
        && key.is_char_boundary(ancestor.len())
        && key[..ancestor.len()].eq_ignore_ascii_case(ancestor)
        && (key.len() == ancestor.len() || key[ancestor.len()..].starts_with('\\'))
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
        assert_eq!(
            normalize("SOFTWARE\\X").unwrap_err(),
            KeyPathError::NoRoot("SOFTWARE\\X".into())
        );
        assert!(
            normalize("SOFTWARE\\X")
                .unwrap_err()
                .to_string()
                .contains("must start with a root key")
        );
        assert_eq!(normalize("").unwrap_err(), KeyPathError::Empty);
        assert_eq!(normalize("\\\\").unwrap_err(), KeyPathError::Empty);
    }

    #[test]
    fn keys_are_told_from_file_paths() {
        assert!(looks_like_key("HKLM\\SYSTEM") && looks_like_key("HKEY_USERS"));
        assert!(!looks_like_key("/etc/hosts") && !looks_like_key("C:\\Windows"));
    }

    #[test]
    fn within_a_key_means_at_or_below_it_in_any_case() {
        let rule = "HKEY_LOCAL_MACHINE\\Software";
        assert!(is_within("HKEY_LOCAL_MACHINE\\SOFTWARE\\X", rule));
        assert!(is_within("hkey_local_machine\\software", rule));
        assert!(!is_within("HKEY_LOCAL_MACHINE\\SoftwareX", rule));
        assert!(!is_within("HKEY_LOCAL_MACHINE", rule));
        assert!(!is_within("HKEY_LOCAL_MACHINE\\Softwär", "HKEY_LOCAL_MACHINE\\Softw"));
    }
}
