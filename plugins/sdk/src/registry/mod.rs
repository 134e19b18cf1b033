//! The Windows registry, one API over two sources: the live registry through
//! the host's `registry-access` import (on a live Windows machine), and hive
//! files parsed inside the sandbox (an offline image given as `--root`, or a
//! mounted disk). [`Registry::open`] picks the source from the machine facts.
//!
//! ```no_run
//! use driftwatch_sdk::registry::Registry;
//!
//! let registry = Registry::open();
//! if let Some(key) = registry.key(r"HKLM\SYSTEM\CurrentControlSet\Services\Dhcp")? {
//!     for value in key.values()? {
//!         println!("{} = {}", value.name, value.render());
//!     }
//! }
//! # Ok::<(), driftwatch_sdk::registry::RegistryError>(())
//! ```
//!
//! Offline, `HKEY_LOCAL_MACHINE\SYSTEM`, `\SOFTWARE`, `\SAM` and `\SECURITY`
//! come from `Windows/System32/config`, `HKEY_USERS\<profile>` from
//! `Users/<profile>/NTUSER.DAT` (or `Documents and Settings`), and
//! `CurrentControlSet` follows `SYSTEM\Select\Current`. Live, `HKEY_USERS`
//! holds the loaded profiles by SID. Paths may use `HKLM`, `HKU`, `HKCU`,
//! `HKCR`, `HKCC`; names match without regard to case.

mod live;
mod offline;

use std::path::PathBuf;

use crate::Timestamp;
pub use crate::bindings::registry_access::View;

/// `HKLM\Software\X\` → `HKEY_LOCAL_MACHINE\Software\X`.
pub fn normalize(path: &str) -> Result<String, RegistryError> {
    windows_paths::registry_key::normalize(path).map_err(|e| RegistryError::Unavailable(e.to_string()))
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// Outside the collector's grants, or refused by Windows.
    Denied(String),
    /// The source does not exist here (no live registry, no such hive file).
    Unavailable(String),
    /// A hive file is damaged where the key was asked for.
    Damaged(String),
    Io(String),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryError::Denied(m)
            | RegistryError::Unavailable(m)
            | RegistryError::Damaged(m)
            | RegistryError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RegistryError {}

/// A registry to read keys from.
pub struct Registry {
    source: Source,
}

enum Source {
    Live,
    Offline(offline::Hives),
}

impl Registry {
    /// The live registry on a live Windows machine; otherwise the hive files
    /// of the image the collector is given.
    pub fn open() -> Registry {
        let facts = crate::machine();
        if facts.live && facts.os == crate::OsFamily::Windows {
            Registry { source: Source::Live }
        } else {
            Registry::offline("/")
        }
    }

    /// The hive files of the Windows tree under `root` (`/` in the sandbox,
    /// where the host maps the image's folders).
    pub fn offline(root: impl Into<PathBuf>) -> Registry {
        Registry {
            source: Source::Offline(offline::Hives::new(root.into())),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Live)
    }

    /// The key at `path` (native view); `None` when it does not exist.
    pub fn key(&self, path: &str) -> Result<Option<Key<'_>>, RegistryError> {
        self.key_in_view(path, View::Native)
    }

    /// The key at `path` as a program of the given bitness sees it: in the
    /// 32-bit view `HKLM\SOFTWARE\X` is `HKLM\SOFTWARE\WOW6432Node\X`.
    pub fn key_in_view(&self, path: &str, view: View) -> Result<Option<Key<'_>>, RegistryError> {
        let path = normalize(path)?;
        match &self.source {
            Source::Live => live::key(self, &path, view),
            Source::Offline(hives) => hives.key(self, &path, view),
        }
    }

    /// The names under `HKEY_USERS`: SIDs of loaded profiles (live), or the
    /// profile folders holding an `NTUSER.DAT` (offline).
    pub fn users(&self) -> Result<Vec<String>, RegistryError> {
        Ok(match self.key("HKEY_USERS")? {
            Some(users) => users.subkey_names()?,
            None => Vec::new(),
        })
    }

    /// Damage met and skipped while reading hive files; the list is emptied.
    pub fn take_warnings(&self) -> Vec<String> {
        match &self.source {
            Source::Live => Vec::new(),
            Source::Offline(hives) => hives.take_warnings(),
        }
    }
}

/// A key, from whichever source.
pub struct Key<'r> {
    registry: &'r Registry,
    /// Full path, root spelled out, as it was asked for.
    path: String,
    last_write: Option<Timestamp>,
    data: KeyData,
}

enum KeyData {
    Live(live::LiveKey),
    Offline(offline::HiveKey),
    /// `HKEY_LOCAL_MACHINE` or `HKEY_USERS` of an image: names only.
    Listing(Vec<String>),
}

impl<'r> Key<'r> {
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The last part of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or_default()
    }

    pub fn last_write(&self) -> Option<Timestamp> {
        self.last_write
    }

    /// Names of the direct subkeys.
    pub fn subkey_names(&self) -> Result<Vec<String>, RegistryError> {
        match &self.data {
            KeyData::Live(key) => Ok(key.subkey_names()),
            KeyData::Offline(key) => key.subkey_names(self.registry),
            KeyData::Listing(names) => Ok(names.clone()),
        }
    }

    /// The direct subkeys.
    pub fn subkeys(&self) -> Result<Vec<Key<'r>>, RegistryError> {
        match &self.data {
            KeyData::Live(key) => key.subkeys(self),
            KeyData::Offline(key) => key.subkeys(self),
            KeyData::Listing(names) => {
                let mut keys = Vec::new();
                for name in names {
                    keys.extend(self.registry.key(&format!("{}\\{name}", self.path))?);
                }
                Ok(keys)
            }
        }
    }

    /// The direct subkey with this name (case-insensitive).
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'r>>, RegistryError> {
        let Some(actual) = self.subkey_names()?.into_iter().find(|n| regf::eq_ignore_case(n, name)) else {
            return Ok(None);
        };
        Ok(self.subkeys()?.into_iter().find(|k| k.name() == actual))
    }

    /// The values, in the registry's order.
    pub fn values(&self) -> Result<Vec<Value>, RegistryError> {
        match &self.data {
            KeyData::Live(key) => Ok(key.values()),
            KeyData::Offline(key) => key.values(self.registry),
            KeyData::Listing(_) => Ok(Vec::new()),
        }
    }

    /// The value with this name (case-insensitive; `""` is the default value).
    pub fn value(&self, name: &str) -> Result<Option<Value>, RegistryError> {
        Ok(self.values()?.into_iter().find(|v| regf::eq_ignore_case(&v.name, name)))
    }

    /// A value's data as text, for string values (`REG_SZ`, `REG_EXPAND_SZ`).
    pub fn string(&self, name: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.value(name)?.and_then(|v| v.as_string()))
    }

    /// A value's data as a number, for `REG_DWORD` (and `REG_QWORD` that fits).
    pub fn number(&self, name: &str) -> Result<Option<u64>, RegistryError> {
        Ok(self.value(name)?.and_then(|v| v.as_number()))
    }
}

/// A value: name, type number and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Empty for the key's default value.
    pub name: String,
    pub value_type: u32,
    pub data: Vec<u8>,
}

impl Value {
    /// `REG_SZ`, `REG_DWORD`, ... (`0x…` for types Windows does not name).
    pub fn type_name(&self) -> String {
        regf::type_name(self.value_type)
    }

    /// The data in driftwatch's stable text form (see `regf::render`).
    pub fn render(&self) -> String {
        regf::render(self.value_type, &self.data)
    }

    /// The text of a string value (`REG_SZ`, `REG_EXPAND_SZ`, `REG_LINK`).
    pub fn as_string(&self) -> Option<String> {
        matches!(self.value_type, 1 | 2 | 6).then(|| self.render())
    }

    /// The number of a `REG_DWORD`, `REG_DWORD_BIG_ENDIAN` or `REG_QWORD`.
    pub fn as_number(&self) -> Option<u64> {
        match (self.value_type, self.data.as_slice()) {
            (4, [a, b, c, d]) => Some(u64::from(u32::from_le_bytes([*a, *b, *c, *d]))),
            (5, [a, b, c, d]) => Some(u64::from(u32::from_be_bytes([*a, *b, *c, *d]))),
            (11, data) if data.len() == 8 => data.try_into().ok().map(u64::from_le_bytes),
            _ => None,
        }
    }
}

/// A FILETIME as a record timestamp.
fn timestamp(filetime: u64) -> Option<Timestamp> {
    regf::filetime_to_unix(filetime).map(|(seconds, nanoseconds)| Timestamp { seconds, nanoseconds })
}

#[cfg(test)]
mod tests;
