//! Grant policy: the paths and live registry keys a collector's run may
//! read. The manifest's grants when it lists some; otherwise its plugin's
//! default grants (contract 0.1.3); otherwise what the collector's settings
//! imply.

use windows_paths::env_vars;

use crate::kind::{Kind, Os};
use crate::machine::Machine;
use crate::manifest::{CollectorSpec, FileRule, GrantsFrom, files};
use crate::runtime::Plugin;
use crate::runtime::grants::{self, Preopen};
use crate::runtime::registry_import::{Access, RegistryGrants};

/// Where an offline Windows image keeps its hives: the machine's under
/// `Windows/System32/config`, each user's `NTUSER.DAT` in their profile.
pub const HIVE_FOLDERS: &[&str] = &["/Windows/System32/config", "/Users", "/Documents and Settings"];

/// A manifest entry as it runs with its plugin: with the plugin's default
/// grants when it lists none of its own.
pub fn effective<'s>(spec: &'s CollectorSpec, plugin: &Plugin) -> std::borrow::Cow<'s, CollectorSpec> {
    if !spec.grants.is_empty() || !spec.registry_grants.is_empty() || plugin.default_grants().is_empty() {
        return std::borrow::Cow::Borrowed(spec);
    }
    let mut granted = spec.clone();
    apply_defaults(&mut granted, plugin);
    std::borrow::Cow::Owned(granted)
}

/// Gives a manifest entry its plugin's default grants. A declared grant the
/// manifest itself would refuse (a relative path, a key with no root) is
/// left out, with a warning.
fn apply_defaults(spec: &mut CollectorSpec, plugin: &Plugin) {
    for grant in plugin.default_grants() {
        let accepted = if crate::runtime::registry_import::looks_like_key(grant) {
            crate::runtime::registry_import::normalize(grant)
                .map(|key| spec.registry_grants.push(key))
                .map_err(|e| e.to_string())
        } else {
            grants::check_form(grant)
                .map(|()| spec.grants.push(grant.clone()))
                .map_err(|e| e.to_string())
        };
        if let Err(why) = accepted {
            tracing::warn!(collector = %spec.name, "its plugin's default grant {grant:?} is left out: {why}");
        }
    }
    spec.grants_from = GrantsFrom::Plugin;
}

/// The read-only directories a collector's run gets: its grants, resolved on
/// the machine (inside `--root` for an image). Grants that do not exist there
/// are left out; the plugin's probe decides what that means.
pub fn preopens(spec: &CollectorSpec, machine: &Machine) -> Vec<Preopen> {
    let mut preopens = Vec::new();
    for grant in &paths(spec, machine) {
        match grants::resolve(grant, machine.root.as_deref(), machine.os == Os::Windows) {
            Ok(preopen) => {
                if !preopen.present {
                    tracing::debug!(collector = %spec.name, "grant {grant} does not exist here");
                }
                preopens.push(preopen);
            }
            Err(error) => tracing::warn!(collector = %spec.name, "{error}; not granted"),
        }
    }
    preopens
}

/// The paths a collector may read: its grants (the manifest's, or its
/// plugin's defaults), or, when it has none, what a files collector's
/// tracked paths imply.
pub fn paths(spec: &CollectorSpec, machine: &Machine) -> Vec<String> {
    if !spec.grants.is_empty() {
        return spec.grants.clone();
    }
    let mut implied: Vec<String> = Vec::new();
    match spec.kind {
        Kind::Files => {
            for rule in spec.paths.iter().filter(|r| r.enabled) {
                let path = rule_path(rule, machine);
                let grant = if !env_vars::has_var(&path) {
                    files::grant_for(&path)
                } else if machine.is_live() {
                    // Unknown to the agent's environment: the plugin reports it.
                    continue;
                } else {
                    // Expanded by the plugin from the image's registry (in
                    // its hive files): the image's system drive is all that
                    // can be said beforehand.
                    implied.push(HIVE_FOLDERS[0].to_string());
                    "C:\\".to_string()
                };
                implied.push(grant);
            }
        }
        Kind::Registry | Kind::Packages | Kind::Services => {}
    }
    let mut seen = std::collections::HashSet::new();
    implied.retain(|grant| seen.insert(grant.clone()));
    implied
}

/// What a collector is granted, for people: its paths and live registry
/// keys, and where they come from (`manifest`, `plugin` — its defaults —,
/// `implied` by its tracked paths or keys, or `none`).
pub fn described(spec: &CollectorSpec, machine: &Machine) -> (Vec<String>, &'static str) {
    let mut granted = paths(spec, machine);
    granted.extend(registry_key_texts(spec).map(str::to_string));
    let from = match spec.grants_from {
        GrantsFrom::Plugin => "plugin",
        GrantsFrom::Manifest if !spec.grants.is_empty() || !spec.registry_grants.is_empty() => "manifest",
        GrantsFrom::Manifest if !granted.is_empty() => "implied",
        GrantsFrom::Manifest => "none",
    };
    (granted, from)
}

/// When a manifest entry lists grants of its own that leave out some of
/// what its plugin reads by default, a note saying so, for a run that found
/// nothing to read: the plugin cannot tell a path it was not granted from
/// one that does not exist, but the host can.
pub fn left_out_note(spec: &CollectorSpec, plugin: &Plugin, machine: &Machine) -> Option<String> {
    if spec.grants_from != GrantsFrom::Manifest || (spec.grants.is_empty() && spec.registry_grants.is_empty()) {
        return None;
    }
    let keys = RegistryGrants::new(spec.registry_grants.iter().map(String::as_str));
    let paths = PathForm {
        windows: machine.os == Os::Windows,
        image: !machine.is_live(),
    };
    let left_out: Vec<&str> = plugin
        .default_grants()
        .iter()
        .filter(|grant| {
            if crate::runtime::registry_import::looks_like_key(grant) {
                crate::runtime::registry_import::normalize(grant).is_ok_and(|key| keys.access(&key) != Access::Full)
            } else {
                !spec.grants.iter().any(|granted| paths.covers(granted, grant))
            }
        })
        .map(String::as_str)
        .collect();
    (!left_out.is_empty()).then(|| {
        format!(
            "its grants leave out {}, which its plugin reads by default: add to `grants`, or drop `grants` to give it its plugin's",
            left_out.join(", ")
        )
    })
}

/// How grant paths compare on a machine.
struct PathForm {
    /// Names match in any letter case.
    windows: bool,
    /// An offline image, whose drive `C:` is its root.
    image: bool,
}

impl PathForm {
    /// Whether the grant `granted` lets a plugin read `path`: the same path
    /// or a folder above it (`/` and `\\` alike).
    fn covers(&self, granted: &str, path: &str) -> bool {
        let (granted, path) = (self.canonical(granted), self.canonical(path));
        granted.is_empty() || path == granted || path.starts_with(&format!("{granted}/"))
    }

    fn canonical(&self, path: &str) -> String {
        let mut path = path.replace('\\', "/");
        if self.windows || grants::is_drive_path(&path) {
            path = path.to_lowercase();
        }
        if self.image && path.starts_with("c:") {
            path.replace_range(..2, "");
        }
        path.trim_end_matches('/').to_string()
    }
}

/// The live registry keys a collector may read: the manifest's registry
/// grants, or a registry collector's tracked keys.
pub fn registry_keys(spec: &CollectorSpec) -> RegistryGrants {
    RegistryGrants::new(registry_key_texts(spec))
}

/// The registry grants as the manifest spells them, or a registry
/// collector's tracked keys when it has none.
fn registry_key_texts(spec: &CollectorSpec) -> Box<dyn Iterator<Item = &str> + '_> {
    if spec.registry_grants.is_empty() && spec.kind == Kind::Registry {
        Box::new(spec.keys.iter().filter(|k| k.enabled).map(|k| k.key.as_str()))
    } else {
        Box::new(spec.registry_grants.iter().map(String::as_str))
    }
}

/// A tracked path as the plugin receives it: on the live machine, `%VAR%`s
/// expanded from the agent's environment; for an image, as written (the
/// plugin expands them from the image's own registry).
pub fn rule_path(rule: &FileRule, machine: &Machine) -> String {
    if machine.is_live() {
        env_vars::expand(&rule.path, |name| std::env::var(name).ok())
    } else {
        rule.path.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::PathForm;

    #[test]
    fn a_grant_covers_itself_and_what_lies_below_it() {
        let linux = PathForm {
            windows: false,
            image: false,
        };
        assert!(linux.covers("/var/lib/dpkg", "/var/lib/dpkg"));
        assert!(linux.covers("/var/lib/", "/var/lib/dpkg"));
        assert!(linux.covers("/", "/var/lib/dpkg"));
        assert!(!linux.covers("/var/lib/dp", "/var/lib/dpkg"));
        assert!(!linux.covers("/var/lib/dpkg/info", "/var/lib/dpkg"));
        assert!(!linux.covers("/Var/lib", "/var/lib/dpkg"));

        let windows = PathForm {
            windows: true,
            image: false,
        };
        assert!(windows.covers("C:\\Windows", "c:/windows/System32/config"));
        assert!(!windows.covers("D:\\Windows", "C:\\Windows\\System32"));
        let image = PathForm {
            windows: true,
            image: true,
        };
        assert!(image.covers("C:\\Windows", "/Windows/System32/config"));
        assert!(image.covers("/windows", "/Windows/System32/config"));
    }
}
