//! Grant policy: the paths and live registry keys a collector's run may
//! read. The manifest's grants when it lists some; otherwise what the
//! collector's settings imply.

use windows_paths::env_vars;

use crate::kind::{Kind, Os};
use crate::machine::Machine;
use crate::manifest::{CollectorSpec, FileRule, files};
use crate::runtime::grants::{self, Preopen};
use crate::runtime::registry_import::RegistryGrants;

/// Where an offline Windows image keeps its hives: the machine's under
/// `Windows/System32/config`, each user's `NTUSER.DAT` in their profile.
pub const HIVE_FOLDERS: &[&str] = &["/Windows/System32/config", "/Users", "/Documents and Settings"];

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

/// The paths a collector may read: the manifest's grants, or, when it lists
/// none, what its settings imply — a files collector's tracked paths, a
/// registry collector's hive folders.
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
        Kind::Registry => implied.extend(HIVE_FOLDERS.iter().map(|g| g.to_string())),
        Kind::Packages | Kind::Services => {}
    }
    let mut seen = std::collections::HashSet::new();
    implied.retain(|grant| seen.insert(grant.clone()));
    implied
}

/// The live registry keys a collector may read: the manifest's registry
/// grants, or a registry collector's tracked keys.
pub fn registry_keys(spec: &CollectorSpec) -> RegistryGrants {
    if spec.registry_grants.is_empty() && spec.kind == Kind::Registry {
        return RegistryGrants::new(spec.keys.iter().filter(|k| k.enabled).map(|k| k.key.as_str()));
    }
    RegistryGrants::new(spec.registry_grants.iter().map(String::as_str))
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
