//! Registry grants: the keys a collector may read from the live registry.

use windows_paths::registry_key::normalize;

/// How much of a key a collector may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The key, its values and everything below it.
    Full,
    /// Only the names of its subkeys: it lies just above a `*` segment of a grant.
    NamesOnly,
    Denied,
}

/// Granted keys, each a list of names; `*` stands for any one name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryGrants {
    grants: Vec<Vec<String>>,
}

impl RegistryGrants {
    /// Grants from manifest entries (already checked by `normalize`).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> RegistryGrants {
        let grants = keys
            .into_iter()
            .filter_map(|key| normalize(key).ok())
            .map(|key| key.split('\\').map(str::to_uppercase).collect())
            .collect();
        RegistryGrants { grants }
    }

    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// What may be read of the key at `path` (normalized).
    pub fn access(&self, path: &str) -> Access {
        let names: Vec<String> = path.split('\\').map(str::to_uppercase).collect();
        let mut access = Access::Denied;
        for grant in &self.grants {
            let common = grant
                .iter()
                .zip(&names)
                .take_while(|(g, n)| *g == "*" || g == n)
                .count();
            if common == grant.len() {
                return Access::Full;
            }
            if common == names.len() && grant[common] == "*" {
                access = Access::NamesOnly;
            }
        }
        access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_keys_below_them() {
        let grants = RegistryGrants::new([
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
            "HKEY_USERS\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
        ]);
        let uninstall = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
        assert_eq!(grants.access(uninstall), Access::Full);
        assert_eq!(grants.access(&format!("{uninstall}\\7-Zip")), Access::Full);
        assert_eq!(
            grants.access(
                &uninstall
                    .to_lowercase()
                    .replace("hkey_local_machine", "HKEY_LOCAL_MACHINE")
            ),
            Access::Full
        );
        assert_eq!(grants.access("HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft"), Access::Denied);
        assert_eq!(grants.access("HKEY_LOCAL_MACHINE\\SYSTEM"), Access::Denied);
        assert_eq!(grants.access("HKEY_USERS"), Access::NamesOnly);
        assert_eq!(grants.access("HKEY_USERS\\S-1-5-21-1\\Software"), Access::Denied);
        assert_eq!(
            grants.access("HKEY_USERS\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\App"),
            Access::Full
        );
        assert_eq!(RegistryGrants::default().access("HKEY_USERS"), Access::Denied);
    }
}
