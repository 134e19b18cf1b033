//! Registry paths as the API takes them.

use super::RegistryError;

const ROOTS: &[(&str, &str)] = &[
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
];

/// `HKLM\Software\X\` → `HKEY_LOCAL_MACHINE\Software\X`.
pub fn normalize(path: &str) -> Result<String, RegistryError> {
    let mut parts = path.split('\\').filter(|p| !p.is_empty());
    let first = parts.next().unwrap_or_default();
    let root = ROOTS
        .iter()
        .find(|(long, short)| first.eq_ignore_ascii_case(long) || first.eq_ignore_ascii_case(short))
        .map(|(long, _)| *long)
        .ok_or_else(|| {
            RegistryError::Unavailable(format!(
                "registry key {path:?} must start with a root key such as HKEY_LOCAL_MACHINE"
            ))
        })?;
    Ok(std::iter::once(root).chain(parts).collect::<Vec<_>>().join("\\"))
}
