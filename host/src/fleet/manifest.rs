//! The manifest from the fleet server: the agent asks for its group's
//! manifest (conditionally: the server answers 304 while it is unchanged),
//! checks it, keeps it in the state directory and runs it instead of its own
//! (`<state>/server-manifest.toml`; `server-manifest.json` says which group
//! and version). A server manifest that could harm the machine is refused
//! whole and the agent keeps what it runs:
//!
//! - an `exec` alert action (a program or a shell line run by the agent);
//! - a plugin that is not bundled, unless the machine's own manifest pins
//!   the file's SHA-256 in `[fleet] plugin_sha256`;
//! - an `[[output]]` (a file written, credentials held).
//!
//! The server manifest's own `[fleet]` table counts for nothing: only the
//! machine decides what it allows. The machine's own outputs run with
//! whichever manifest runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::client::ServerManifest;
use super::{FleetClient, FleetError, Membership};
use crate::catalog::PluginRef;
use crate::content_store::ContentStore;
use crate::manifest::Manifest;
use crate::manifest::alerts::Action;

const MANIFEST_FILE: &str = "server-manifest.toml";
const VERSION_FILE: &str = "server-manifest.json";

/// Which server manifest the agent has: the one it runs, or the last it
/// refused (so that it is not fetched and refused again every minute, until
/// it changes or the machine's own pins do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Versions {
    group: Option<String>,
    applied: Option<String>,
    refused: Option<String>,
    /// The machine's pins when it refused (see [`pins_key`]).
    #[serde(default)]
    refused_pins: Option<String>,
}

/// The machine's pins as one string: a refusal holds while they are the same.
fn pins_key(local: &Manifest) -> String {
    let mut pins = local.fleet.plugin_sha256.clone();
    pins.sort();
    pins.join(",")
}

/// What a look at the server found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    /// A new manifest of `group`, kept: the agent reloads.
    Applied {
        group: String,
        etag: String,
    },
    /// The group's manifest is not run; the reason says why.
    Refused {
        group: String,
        etag: String,
        reason: String,
    },
    /// The server no longer has a manifest for this machine: the agent goes
    /// back to its own.
    Withdrawn,
    /// Neither before nor now.
    NoneSet,
}

impl Outcome {
    /// Whether the agent must reload what it runs.
    pub fn changes_manifest(&self) -> bool {
        matches!(self, Outcome::Applied { .. } | Outcome::Withdrawn)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerManifestError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("cannot keep the server's manifest in {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

/// Asks the server for this machine's manifest and keeps or refuses what
/// it gets. `local` is the machine's own manifest (what it allows).
pub fn fetch(state_dir: &Path, membership: &Membership, local: &Manifest) -> Result<Outcome, ServerManifestError> {
    let client = FleetClient::new(
        &membership.server,
        membership.ca.as_deref(),
        Some(membership.credential.clone()),
    )?;
    let mut versions = read_versions(state_dir);
    let pins = pins_key(local);
    let refused = versions
        .refused
        .as_ref()
        .filter(|_| versions.refused_pins.as_ref() == Some(&pins));
    let known: Vec<String> = versions.applied.iter().chain(refused).cloned().collect();
    let (group, etag, text) = match client.manifest(&known)? {
        ServerManifest::Unchanged => return Ok(Outcome::Unchanged),
        ServerManifest::None => {
            if versions.applied.is_none() && versions.refused.is_none() {
                return Ok(Outcome::NoneSet);
            }
            let had = versions.applied.is_some();
            remove(state_dir)?;
            tracing::info!("the fleet server has no manifest for this machine any more: back to its own");
            return Ok(if had { Outcome::Withdrawn } else { Outcome::NoneSet });
        }
        ServerManifest::Current { group, etag, text } => (group, etag, text),
    };
    match check(&text, &group, state_dir, local) {
        Ok(_) => {
            write(state_dir, MANIFEST_FILE, text.as_bytes())?;
            versions = Versions {
                group: Some(group.clone()),
                applied: Some(etag.clone()),
                refused: None,
                refused_pins: None,
            };
            write_versions(state_dir, &versions)?;
            tracing::info!("manifest {etag} of group {group} from the fleet server: applied");
            Ok(Outcome::Applied { group, etag })
        }
        Err(reason) => {
            tracing::error!(
                "refused the fleet server's manifest {etag} of group {group}, keeping the current one: {reason}"
            );
            versions.refused = Some(etag.clone());
            versions.refused_pins = Some(pins);
            write_versions(state_dir, &versions)?;
            Ok(Outcome::Refused { group, etag, reason })
        }
    }
}

/// The manifest to run: the server's, when one is kept and still passes the
/// checks against `local`, else `local`.
pub fn effective(state_dir: &Path, local: Manifest) -> Manifest {
    let versions = read_versions(state_dir);
    let (Some(group), Some(_)) = (&versions.group, &versions.applied) else {
        return local;
    };
    let path = state_dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!("cannot read {}: {error}; running {}", path.display(), local.source);
            return local;
        }
    };
    match check(&text, group, state_dir, &local) {
        Ok(manifest) => manifest,
        Err(reason) => {
            tracing::error!(
                "not running the fleet server's manifest: {reason}; running {}",
                local.source
            );
            local
        }
    }
}

/// Which server manifest is kept: (group, version).
pub fn kept(state_dir: &Path) -> Option<(String, String)> {
    let versions = read_versions(state_dir);
    versions.group.zip(versions.applied)
}

/// What a server manifest is called in logs and errors (its `source`).
pub fn source_name(group: &str) -> String {
    format!("<manifest of group {group} from the fleet server>")
}

/// Parses a server manifest and checks it against what `local` allows.
fn check(text: &str, group: &str, state_dir: &Path, local: &Manifest) -> Result<Manifest, String> {
    let mut manifest = Manifest::parse(text, &source_name(group), state_dir).map_err(|e| e.to_string())?;
    for rule in &manifest.alerts {
        if rule.actions.iter().any(|a| matches!(a, Action::Exec(_))) {
            return Err(format!(
                "alert `{}` has an exec action (a program or shell run by the agent); only the machine's own \
                 manifest may have those",
                rule.name
            ));
        }
    }
    // Outputs write files and hold credentials: they are the machine's own.
    if let Some(output) = manifest.outputs.first() {
        return Err(format!(
            "output `{}` ({}): outputs are set in the machine's own manifest only",
            output.name,
            output.sink.type_name()
        ));
    }
    // A plugin file runs only when the machine pins its hash, and is then
    // named by that hash: it is checked again on the bytes that are loaded,
    // so the file cannot be swapped between this check and its use.
    for collector in &mut manifest.collectors {
        let PluginRef::File(path) = &collector.plugin else {
            continue;
        };
        let sha256 = std::fs::read(path)
            .map(|bytes| ContentStore::hash(&bytes))
            .map_err(|error| {
                format!(
                    "collector `{}`: cannot read {}: {error}",
                    collector.name,
                    path.display()
                )
            })?;
        if !local.fleet.plugin_sha256.contains(&sha256) {
            return Err(format!(
                "collector `{}` runs {}, which is not bundled and whose SHA-256 ({sha256}) the machine's manifest \
                 does not pin in [fleet] plugin_sha256",
                collector.name,
                path.display()
            ));
        }
        collector.plugin = PluginRef::Pinned {
            path: path.clone(),
            sha256,
        };
    }
    manifest.fleet = local.fleet.clone();
    manifest.outputs = local.outputs.clone();
    Ok(manifest)
}

fn read_versions(state_dir: &Path) -> Versions {
    std::fs::read(state_dir.join(VERSION_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_versions(state_dir: &Path, versions: &Versions) -> Result<(), ServerManifestError> {
    let text = serde_json::to_vec_pretty(versions).unwrap_or_default();
    write(state_dir, VERSION_FILE, &text)
}

fn remove(state_dir: &Path) -> Result<(), ServerManifestError> {
    for file in [MANIFEST_FILE, VERSION_FILE] {
        let path = state_dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(ServerManifestError::Write { path, error }),
        }
    }
    Ok(())
}

/// Replaces `state_dir/name` whole (a new file, then a rename).
fn write(state_dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ServerManifestError> {
    let path = state_dir.join(name);
    let temporary = state_dir.join(format!("{name}.new"));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|error| ServerManifestError::Write { path, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "[fleet]\nplugin_sha256 = []\n";

    fn local(pins: &[String]) -> Manifest {
        let text = if pins.is_empty() {
            LOCAL.to_string()
        } else {
            format!("[fleet]\nplugin_sha256 = [\"{}\"]\n", pins.join("\", \""))
        };
        Manifest::parse(&text, "local", Path::new(".")).unwrap()
    }

    #[test]
    fn exec_and_shell_actions_are_refused_log_and_webhook_are_not() {
        let dir = tempfile::tempdir().unwrap();
        for (action, refused) in [
            ("type = \"exec\"\ncommand = [\"/bin/true\"]", true),
            ("type = \"exec\"\nshell = true\ncommand = \"true | cat\"", true),
            ("type = \"log\"", false),
            ("type = \"webhook\"\nurl = \"https://hooks.example.com/x\"", false),
        ] {
            let text =
                format!("[[alert]]\nname = \"a\"\nquery = \"ConfigurationChange\"\n[[alert.action]]\n{action}\n");
            let result = check(&text, "web", dir.path(), &local(&[]));
            assert_eq!(result.is_err(), refused, "{action}: {result:?}");
            if let Err(reason) = result {
                assert!(reason.contains("alert `a` has an exec action"), "{reason}");
            }
        }
    }

    #[test]
    fn outputs_are_the_machines_own() {
        let dir = tempfile::tempdir().unwrap();
        let server = "[[output]]\ntype = \"jsonl\"\npath = \"/etc/cron.d/x\"\n";
        let refused = check(server, "web", dir.path(), &local(&[])).unwrap_err();
        assert!(
            refused.contains("output `jsonl` (jsonl): outputs are set in the machine's own manifest only"),
            "{refused}"
        );
        let mine = "[[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\n";
        let local = Manifest::parse(mine, "local", Path::new(".")).unwrap();
        let kept = check("", "web", dir.path(), &local).unwrap();
        assert_eq!(kept.outputs, local.outputs);
    }

    #[test]
    fn plugins_must_be_bundled_or_pinned_by_the_machine() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("custom.wasm");
        std::fs::write(&plugin, b"\0asm not really").unwrap();
        let hash = ContentStore::hash(b"\0asm not really");
        let text = format!(
            "[fleet]\nplugin_sha256 = [\"{hash}\"]\n\n[[collector]]\nname = \"custom\"\nkind = \"files\"\nplugin = '{}'\n",
            plugin.display()
        );
        let refused = check(&text, "web", dir.path(), &local(&[])).unwrap_err();
        assert!(refused.contains("does not pin"), "{refused}");
        assert!(refused.contains(&hash), "{refused}");
        let pinned = check(&text, "web", dir.path(), &local(std::slice::from_ref(&hash))).unwrap();
        assert_eq!(pinned.collectors.len(), 1);
        // What is loaded later is checked again, on the bytes read then.
        std::fs::write(&plugin, b"\0asm swapped after the check").unwrap();
        let loaded = pinned.collectors[0].plugin.wasm();
        assert!(
            matches!(loaded, Err(crate::runtime::LoadError::NotPinned { .. })),
            "{loaded:?}"
        );
        std::fs::write(&plugin, b"\0asm not really").unwrap();
        // The file changes: the pin no longer holds.
        std::fs::write(&plugin, b"\0asm something else").unwrap();
        assert!(check(&text, "web", dir.path(), &local(&[hash])).is_err());
        let bundled = "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n";
        assert!(check(bundled, "web", dir.path(), &local(&[])).is_ok());
    }

    #[test]
    fn a_kept_manifest_runs_until_it_no_longer_passes() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n";
        write(dir.path(), MANIFEST_FILE, text.as_bytes()).unwrap();
        write_versions(
            dir.path(),
            &Versions {
                group: Some("web".into()),
                applied: Some("v1".into()),
                refused: None,
                refused_pins: None,
            },
        )
        .unwrap();
        let run = effective(dir.path(), local(&[]));
        assert!(run.source.contains("group web"), "{}", run.source);
        assert_eq!(kept(dir.path()), Some(("web".into(), "v1".into())));
        write(dir.path(), MANIFEST_FILE, b"[[alert]]\nname = \"x\"\nquery = \"ConfigurationChange\"\n[[alert.action]]\ntype = \"exec\"\ncommand = [\"/bin/sh\"]\n").unwrap();
        assert_eq!(effective(dir.path(), local(&[])).source, "local");
        remove(dir.path()).unwrap();
        assert_eq!(kept(dir.path()), None);
    }
}
