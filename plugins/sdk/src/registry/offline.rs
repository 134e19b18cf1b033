//! Hive files of an offline image, read with `regf` inside the sandbox.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use regf::{Hive, RegfError, eq_ignore_case};

use super::{Key, KeyData, Registry, RegistryError, Value, View, timestamp};

/// Machine hives under `Windows/System32/config`, as `HKEY_LOCAL_MACHINE` names them.
const MACHINE_HIVES: &[&str] = &["SAM", "SECURITY", "SOFTWARE", "SYSTEM"];
/// Profile folders, current and Windows XP.
const PROFILE_FOLDERS: &[&str] = &["Users", "Documents and Settings"];
/// Profile folders that are not users.
const NOT_USERS: &[&str] = &["Default", "Default User", "All Users", "Public"];

pub(super) struct Hives {
    root: PathBuf,
    /// Opened hives by name (`SYSTEM`, `user:alice`); `None` when absent.
    open: RefCell<HashMap<String, Option<Rc<Hive>>>>,
    /// `ControlSet00N` that `CurrentControlSet` stands for.
    current_control_set: RefCell<Option<Option<String>>>,
    warnings: RefCell<Vec<String>>,
}

/// A key inside a hive: the hive and where its node is.
pub(super) struct HiveKey {
    hive: Rc<Hive>,
    offset: u32,
}

impl Hives {
    pub fn new(root: PathBuf) -> Hives {
        Hives {
            root,
            open: RefCell::new(HashMap::new()),
            current_control_set: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut *self.warnings.borrow_mut());
        for (name, hive) in self.open.borrow().iter() {
            if let Some(hive) = hive {
                warnings.extend(
                    hive.take_warnings()
                        .into_iter()
                        .map(|w| format!("{}: {w}", hive_label(name))),
                );
            }
        }
        warnings
    }

    pub fn key<'r>(&self, registry: &'r Registry, path: &str, view: View) -> Result<Option<Key<'r>>, RegistryError> {
        let parts: Vec<&str> = path.split('\\').collect();
        let listing = |names: Vec<String>| {
            Ok(Some(Key {
                registry,
                path: path.to_string(),
                last_write: None,
                data: KeyData::Listing(names),
            }))
        };
        let (hive_name, below): (String, Vec<String>) = match parts.as_slice() {
            ["HKEY_LOCAL_MACHINE"] => return listing(self.machine_hives()),
            ["HKEY_USERS"] => return listing(self.users().into_iter().map(|(name, _)| name).collect()),
            ["HKEY_LOCAL_MACHINE", hive, rest @ ..] => {
                let Some(hive) = MACHINE_HIVES.iter().find(|h| eq_ignore_case(h, hive)) else {
                    // HARDWARE and the like exist only while Windows runs.
                    return Ok(None);
                };
                let mut rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                if *hive == "SYSTEM" && rest.first().is_some_and(|r| eq_ignore_case(r, "CurrentControlSet")) {
                    match self.current_control_set()? {
                        Some(set) => rest[0] = set,
                        None => return Ok(None),
                    }
                }
                if *hive == "SOFTWARE"
                    && view == View::Wow64
                    && !rest.first().is_some_and(|r| eq_ignore_case(r, "WOW6432Node"))
                {
                    rest.insert(0, "WOW6432Node".into());
                }
                (hive.to_string(), rest)
            }
            ["HKEY_USERS", user, rest @ ..] => (format!("user:{user}"), rest.iter().map(|s| s.to_string()).collect()),
            ["HKEY_CLASSES_ROOT", rest @ ..] => {
                return self
                    .key(
                        registry,
                        &format!("HKEY_LOCAL_MACHINE\\SOFTWARE\\Classes\\{}", rest.join("\\")),
                        view,
                    )
                    .map(|k| {
                        k.map(|k| Key {
                            path: path.to_string(),
                            ..k
                        })
                    });
            }
            ["HKEY_CURRENT_CONFIG", rest @ ..] => {
                let mapped = format!(
                    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Hardware Profiles\\Current\\{}",
                    rest.join("\\")
                );
                return self.key(registry, &mapped, view).map(|k| {
                    k.map(|k| Key {
                        path: path.to_string(),
                        ..k
                    })
                });
            }
            _ => {
                return Err(RegistryError::Unavailable(format!(
                    "{path}: an offline image has no current user; read HKEY_USERS\\<profile> instead"
                )));
            }
        };
        let Some(hive) = self.hive(&hive_name)? else {
            return Ok(None);
        };
        let found = hive.key(&below.join("\\")).map_err(|e| damaged(&hive_name, e))?;
        Ok(found.map(|k| Key {
            registry,
            path: path.to_string(),
            last_write: timestamp(k.last_written()),
            data: KeyData::Offline(HiveKey {
                offset: k.offset(),
                hive: hive.clone(),
            }),
        }))
    }

    fn machine_hives(&self) -> Vec<String> {
        let config = self.config_dir();
        MACHINE_HIVES
            .iter()
            .filter(|name| config.as_ref().and_then(|dir| find(dir, name)).is_some())
            .map(|name| name.to_string())
            .collect()
    }

    /// Profiles with a user hive: (folder name, hive path).
    fn users(&self) -> Vec<(String, PathBuf)> {
        let mut users: Vec<(String, PathBuf)> = Vec::new();
        for folder in PROFILE_FOLDERS {
            let Some(profiles) = find(&self.root, folder) else {
                continue;
            };
            for profile in list(&profiles) {
                let name = profile
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if NOT_USERS.iter().any(|n| eq_ignore_case(n, &name))
                    || users.iter().any(|(u, _)| eq_ignore_case(u, &name))
                {
                    continue;
                }
                if let Some(hive) = find(&profile, "NTUSER.DAT") {
                    users.push((name, hive));
                }
            }
        }
        users.sort();
        users
    }

    fn config_dir(&self) -> Option<PathBuf> {
        // In the sandbox only the grant itself is visible, under its usual spelling.
        let usual = self.root.join("Windows/System32/config");
        if usual.is_dir() {
            return Some(usual);
        }
        ["Windows", "System32", "config"]
            .iter()
            .try_fold(self.root.clone(), |dir, name| find(&dir, name))
    }

    /// The hive called `name`, opened once; `None` when the image lacks it.
    fn hive(&self, name: &str) -> Result<Option<Rc<Hive>>, RegistryError> {
        if let Some(open) = self.open.borrow().get(name) {
            return Ok(open.clone());
        }
        let file = match name.strip_prefix("user:") {
            Some(user) => self
                .users()
                .into_iter()
                .find(|(u, _)| eq_ignore_case(u, user))
                .map(|(_, p)| p),
            None => self.config_dir().and_then(|dir| find(&dir, name)),
        };
        let hive = match file {
            None => None,
            Some(file) => Some(Rc::new(Hive::open(&file).map_err(|e| damaged(name, e))?)),
        };
        self.open.borrow_mut().insert(name.to_string(), hive.clone());
        Ok(hive)
    }

    /// `ControlSet00N` from `SYSTEM\Select\Current`.
    fn current_control_set(&self) -> Result<Option<String>, RegistryError> {
        if let Some(known) = self.current_control_set.borrow().clone() {
            return Ok(known);
        }
        let set = match self.hive("SYSTEM")? {
            None => None,
            Some(system) => {
                let current = system
                    .key("Select")
                    .and_then(|select| match select {
                        Some(select) => select.value("Current"),
                        None => Ok(None),
                    })
                    .map_err(|e| damaged("SYSTEM", e))?
                    .and_then(|v| v.data().ok())
                    .and_then(|d| <[u8; 4]>::try_from(d.as_slice()).ok())
                    .map(u32::from_le_bytes);
                match current {
                    Some(n) => Some(format!("ControlSet{n:03}")),
                    None => {
                        self.warnings
                            .borrow_mut()
                            .push("SYSTEM: no Select\\Current value; CurrentControlSet cannot be resolved".into());
                        None
                    }
                }
            }
        };
        *self.current_control_set.borrow_mut() = Some(set.clone());
        Ok(set)
    }
}

impl HiveKey {
    fn node(&self) -> Result<regf::Key<'_>, RegistryError> {
        self.hive
            .key_at(self.offset)
            .map_err(|e| RegistryError::Damaged(e.to_string()))
    }

    pub fn subkey_names(&self, _: &Registry) -> Result<Vec<String>, RegistryError> {
        let subkeys = self
            .node()?
            .subkeys()
            .map_err(|e| RegistryError::Damaged(e.to_string()))?;
        Ok(subkeys.iter().map(|k| k.name().to_string()).collect())
    }

    pub fn subkeys<'r>(&self, parent: &Key<'r>) -> Result<Vec<Key<'r>>, RegistryError> {
        let subkeys = self
            .node()?
            .subkeys()
            .map_err(|e| RegistryError::Damaged(format!("{}: {e}", parent.path)))?;
        Ok(subkeys
            .iter()
            .map(|k| Key {
                registry: parent.registry,
                path: format!("{}\\{}", parent.path, k.name()),
                last_write: timestamp(k.last_written()),
                data: KeyData::Offline(HiveKey {
                    hive: self.hive.clone(),
                    offset: k.offset(),
                }),
            })
            .collect())
    }

    pub fn values(&self, registry: &Registry) -> Result<Vec<Value>, RegistryError> {
        let node = self.node()?;
        let values = node.values().map_err(|e| RegistryError::Damaged(e.to_string()))?;
        let mut out = Vec::with_capacity(values.len());
        for value in values {
            match value.data() {
                Ok(data) => out.push(Value {
                    name: value.name().to_string(),
                    value_type: value.value_type(),
                    data,
                }),
                Err(e) => {
                    if let super::Source::Offline(hives) = &registry.source {
                        hives.warnings.borrow_mut().push(format!(
                            "value {:?} of {} skipped: {e}",
                            value.name(),
                            node.name()
                        ));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn damaged(hive: &str, error: RegfError) -> RegistryError {
    match error {
        RegfError::Io(e) => RegistryError::Io(format!("{}: {e}", hive_label(hive))),
        other => RegistryError::Damaged(format!("{}: {other}", hive_label(hive))),
    }
}

fn hive_label(name: &str) -> String {
    match name.strip_prefix("user:") {
        Some(user) => format!("the user hive of {user}"),
        None => format!("the {name} hive"),
    }
}

/// The entry of `dir` called `name`, in any letter case (images copied off
/// NTFS keep Windows' case-insensitive names).
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.exists() {
        return Some(exact);
    }
    list(dir).into_iter().find(|p| {
        p.file_name()
            .is_some_and(|n| eq_ignore_case(&n.to_string_lossy(), name))
    })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}
