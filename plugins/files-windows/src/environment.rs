//! `%VAR%`s of an offline image, from its registry: the system environment
//! (`Session Manager\Environment`) and the folders Windows derives the
//! rest from (`SystemRoot`, `ProgramFiles`, `ProgramData`, ...).

use std::collections::HashMap;

use driftwatch_sdk::registry::Registry;

const SYSTEM_ENVIRONMENT: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment";
const WINDOWS_NT: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";
const WINDOWS: &str = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion";
const PROFILES: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList";

/// Where Windows lives when the image does not say.
const DEFAULT_SYSTEM_ROOT: &str = r"C:\Windows";

/// Variables by upper-cased name.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    variables: HashMap<String, String>,
}

impl Environment {
    /// The image's variables, as far as its hives tell them.
    pub fn from_registry(registry: &Registry) -> Environment {
        let mut env = Environment::default();
        let read = |key: &str, value: &str| {
            registry
                .key(key)
                .ok()
                .flatten()
                .and_then(|k| k.string(value).ok().flatten())
                .filter(|v| !v.is_empty())
        };
        let system_root = read(WINDOWS_NT, "SystemRoot").unwrap_or_else(|| DEFAULT_SYSTEM_ROOT.into());
        env.set("SystemDrive", system_root.get(..2).unwrap_or("C:"));
        env.set("SystemRoot", &system_root);
        env.set("windir", &system_root);
        for (variable, key, value) in [
            ("ProgramFiles", WINDOWS, "ProgramFilesDir"),
            ("ProgramFiles(x86)", WINDOWS, "ProgramFilesDir (x86)"),
            ("ProgramW6432", WINDOWS, "ProgramW6432Dir"),
            ("CommonProgramFiles", WINDOWS, "CommonFilesDir"),
            ("CommonProgramFiles(x86)", WINDOWS, "CommonFilesDir (x86)"),
            ("ProgramData", PROFILES, "ProgramData"),
            ("ALLUSERSPROFILE", PROFILES, "ProgramData"),
            ("PUBLIC", PROFILES, "Public"),
        ] {
            if let Some(found) = read(key, value) {
                env.set(variable, &found);
            }
        }
        // The system environment last: it is what Windows itself sets.
        if let Ok(Some(key)) = registry.key(SYSTEM_ENVIRONMENT) {
            for value in key.values().unwrap_or_default() {
                if let Some(text) = value.as_string() {
                    env.set(&value.name, &text);
                }
            }
        }
        env.resolve();
        env
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.variables.insert(name.to_uppercase(), value.to_string());
    }

    /// Values may refer to others (`windir=%SystemRoot%`): expand them,
    /// a few rounds deep, so a loop cannot run forever.
    fn resolve(&mut self) {
        for _ in 0..8 {
            let snapshot = self.clone();
            let mut changed = false;
            for value in self.variables.values_mut() {
                if let Ok(expanded) = snapshot.expand(value)
                    && expanded != *value
                {
                    *value = expanded;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// `path` with its `%VAR%`s replaced; the first unknown name is the error.
    pub fn expand(&self, path: &str) -> Result<String, String> {
        windows_paths::env_vars::expand_all(path, |name| self.variables.get(&name.to_uppercase()).cloned())
    }
}

#[cfg(test)]
mod tests {
    use regf::writer::{KeySpec, Options, write};

    use super::*;

    fn image(with_software: bool) -> tempfile::TempDir {
        let system = KeySpec::new("ROOT")
            .key(KeySpec::new("Select").dword("Current", 1))
            .key(
                KeySpec::new("ControlSet001").key(
                    KeySpec::new("Control").key(
                        KeySpec::new("Session Manager").key(
                            KeySpec::new("Environment")
                                .expand_sz("windir", "%SystemRoot%")
                                .expand_sz("TEMP", "%SystemRoot%\\TEMP")
                                .sz("OS", "Windows_NT")
                                .dword("NotText", 1),
                        ),
                    ),
                ),
            );
        let software = KeySpec::new("ROOT").key(
            KeySpec::new("Microsoft")
                .key(
                    KeySpec::new("Windows NT").key(
                        KeySpec::new("CurrentVersion")
                            .sz("SystemRoot", "D:\\WINNT")
                            .key(KeySpec::new("ProfileList").expand_sz("ProgramData", "%SystemDrive%\\ProgramData")),
                    ),
                )
                .key(
                    KeySpec::new("Windows")
                        .key(KeySpec::new("CurrentVersion").sz("ProgramFilesDir (x86)", "D:\\Program Files (x86)")),
                ),
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("Windows/System32/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("SYSTEM"), write(&system, Options::default())).unwrap();
        if with_software {
            std::fs::write(config.join("SOFTWARE"), write(&software, Options::default())).unwrap();
        }
        dir
    }

    #[test]
    fn variables_come_from_the_images_registry() {
        let dir = image(true);
        let env = Environment::from_registry(&Registry::offline(dir.path()));
        assert_eq!(
            env.expand("%WINDIR%\\System32\\drivers\\etc\\hosts").unwrap(),
            "D:\\WINNT\\System32\\drivers\\etc\\hosts"
        );
        assert_eq!(env.expand("%temp%\\*.log").unwrap(), "D:\\WINNT\\TEMP\\*.log");
        assert_eq!(
            env.expand("%ProgramFiles(x86)%\\App").unwrap(),
            "D:\\Program Files (x86)\\App"
        );
        assert_eq!(env.expand("%ProgramData%").unwrap(), "D:\\ProgramData");
        assert_eq!(env.expand("%ALLUSERSPROFILE%").unwrap(), "D:\\ProgramData");
        assert_eq!(env.expand("%USERPROFILE%\\x").unwrap_err(), "USERPROFILE");
        assert_eq!(env.expand("C:\\100% sure").unwrap(), "C:\\100% sure");
    }

    #[test]
    fn without_a_software_hive_windows_is_where_it_usually_is() {
        let dir = image(false);
        let env = Environment::from_registry(&Registry::offline(dir.path()));
        assert_eq!(env.expand("%windir%\\win.ini").unwrap(), "C:\\Windows\\win.ini");
        assert_eq!(env.expand("%SystemDrive%\\").unwrap(), "C:\\");
    }

    #[test]
    fn loops_end() {
        let mut env = Environment::default();
        env.set("A", "%B%x");
        env.set("B", "%A%y");
        env.resolve();
        assert!(env.expand("%A%").unwrap().len() < 1000);
    }
}
