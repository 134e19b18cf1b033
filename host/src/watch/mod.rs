//! File-system watches for the agent: what a collector reads is watched
//! (inotify on Linux, through `notify`), and events become triggers for a
//! run of that collector — a targeted re-check of the paths that changed for
//! a files collector, a collection for the others (package databases, unit
//! and init directories are small to read again).
//!
//! Watches cover each collector's grants as resolved for the run (under
//! `--root` too): a granted directory is watched, recursively where a
//! collector reads below it; a granted file is watched through its
//! directory, so that editors replacing it by a rename are seen. A lost
//! event (the kernel queue overflowed) or a watch that cannot be set (the
//! watch limit) asks for a full scan and says so in the log: scheduled scans
//! stay the safety net either way. Kernel file systems (`/sys`, `/proc`)
//! are not watched.
//!
//! On a live Windows machine, also: the registry keys a collector reads
//! (`registry`, `RegNotifyChangeKeyValue`; a registry collector re-reads
//! just the tracked key that changed), and for services collectors the
//! services' states (`services`, `NotifyServiceStatusChangeW` and a 10 s
//! ask of the Service Control Manager; a change asks for a collection).
//! Hive folders are not watched there.

use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::collectors;
use crate::kind::Kind;
use crate::machine::Machine;
use crate::manifest::CollectorSpec;
use crate::runtime::grants::Preopen;

/// What watching asks of a collector's loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// These paths (as the plugin names them) changed; for a registry
    /// collector, these tracked keys (normalized).
    Changed(Vec<String>),
    /// Something changed where the collector reads (not a files collector).
    Collect,
    /// Events were lost or cannot be watched for: scan everything.
    Rescan(String),
}

#[cfg(windows)]
mod registry;
#[cfg(windows)]
mod services;

/// Live watches of one collector; dropping it ends them.
pub struct CollectorWatch {
    _files: Option<notify::RecommendedWatcher>,
    #[cfg(windows)]
    _registry: Option<registry::RegistryWatch>,
    #[cfg(windows)]
    _services: Option<services::ServiceWatch>,
    /// Where the watches are, for the log.
    pub watched: usize,
}

/// One watched place: the host directory, and the grant it serves.
struct Target {
    dir: PathBuf,
    recursive: bool,
    preopen: Preopen,
}

/// Starts watching what `spec` reads on `machine`. Triggers go to
/// `triggers`. `None` when there is nothing to watch.
pub fn watch(
    spec: &CollectorSpec,
    machine: &Machine,
    triggers: UnboundedSender<Trigger>,
) -> Result<Option<CollectorWatch>, String> {
    let (files, files_watched) = match watch_files(spec, machine, triggers.clone())? {
        Some((watcher, watched)) => (Some(watcher), watched),
        None => (None, 0),
    };
    // On a live Windows machine, the registry and the services' states.
    #[cfg(windows)]
    let (registry, services) = if machine.is_live() {
        let services = (spec.kind == Kind::Services)
            .then(|| services::ServiceWatch::start(&spec.name, triggers.clone()))
            .flatten();
        (registry::watch(spec, triggers), services)
    } else {
        (None, None)
    };
    #[cfg(windows)]
    let watched = files_watched + registry.as_ref().map_or(0, |r| r.watched) + usize::from(services.is_some());
    #[cfg(not(windows))]
    let watched = files_watched;
    if watched == 0 {
        return Ok(None);
    }
    Ok(Some(CollectorWatch {
        _files: files,
        #[cfg(windows)]
        _registry: registry,
        #[cfg(windows)]
        _services: services,
        watched,
    }))
}

/// Watches the directories `spec` reads; the watcher and how many places.
fn watch_files(
    spec: &CollectorSpec,
    machine: &Machine,
    triggers: UnboundedSender<Trigger>,
) -> Result<Option<(notify::RecommendedWatcher, usize)>, String> {
    let targets = targets(spec, machine);
    if targets.is_empty() {
        return Ok(None);
    }
    let preopens: Vec<Preopen> = targets.iter().map(|t| t.preopen.clone()).collect();
    let files = spec.kind == Kind::Files;
    let name = spec.name.clone();
    let sender = triggers.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let trigger = match event {
            Ok(event) if event.need_rescan() => Some(Trigger::Rescan("the kernel's event queue overflowed".into())),
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => None,
            Ok(event) => {
                let paths: Vec<String> = event.paths.iter().filter_map(|p| guest_path(&preopens, p)).collect();
                match (paths.is_empty(), files) {
                    (true, _) => None,
                    (false, true) => Some(Trigger::Changed(paths)),
                    (false, false) => Some(Trigger::Collect),
                }
            }
            Err(error) => Some(Trigger::Rescan(format!("watching failed: {error}"))),
        };
        if let Some(trigger) = trigger {
            if let Trigger::Rescan(why) = &trigger {
                tracing::warn!(collector = %name, "{why}: a full scan follows");
            }
            let _ = sender.send(trigger);
        }
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(|e| format!("cannot watch: {e}"))?;
    let mut watched = 0;
    for target in &targets {
        let mode = if target.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        match watcher.watch(&target.dir, mode) {
            Ok(()) => watched += 1,
            Err(error) => {
                let why = match error.kind {
                    notify::ErrorKind::MaxFilesWatch => format!(
                        "the watch limit was reached under {} (raise fs.inotify.max_user_watches); \
                         changes there are found by scheduled scans",
                        target.dir.display()
                    ),
                    _ => format!("cannot watch {}: {error}", target.dir.display()),
                };
                tracing::warn!(collector = %spec.name, "{why}: a full scan follows");
                let _ = triggers.send(Trigger::Rescan(why));
            }
        }
    }
    Ok(Some((watcher, watched)))
}

/// The directories to watch for a collector: its present grants.
fn targets(spec: &CollectorSpec, machine: &Machine) -> Vec<Target> {
    let deep = spec.kind != Kind::Files || spec.paths.iter().any(|r| r.enabled && r.recurse);
    let mut targets: Vec<Target> = Vec::new();
    for preopen in collectors::grants::preopens(spec, machine)
        .into_iter()
        .filter(|p| p.present && !is_pseudo_fs(&p.guest))
        .filter(|p| !(machine.is_live() && is_hive_folder(&p.guest)))
    {
        let (dir, recursive) = if preopen.is_dir {
            (preopen.host.clone(), deep)
        } else {
            match preopen.host.parent() {
                Some(parent) => (parent.to_path_buf(), false),
                None => continue,
            }
        };
        // A directory already watched recursively covers what is under it.
        if targets
            .iter()
            .any(|t| t.recursive && dir.starts_with(&t.dir) && t.dir != dir)
        {
            continue;
        }
        targets.push(Target {
            dir,
            recursive,
            preopen,
        });
    }
    targets
}

/// Kernel file systems (`/sys`, `/proc`): read for live state, but their
/// "files" change all the time without events worth a collection.
fn is_pseudo_fs(guest: &str) -> bool {
    ["/sys", "/proc"]
        .iter()
        .any(|p| guest == *p || guest.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// The folders of registry hive files: on the live machine the registry is
/// read (and watched) through the Windows API; the files themselves change
/// whenever Windows flushes them.
fn is_hive_folder(guest: &str) -> bool {
    let path = guest.replace('\\', "/");
    let path = path
        .strip_prefix("C:")
        .or_else(|| path.strip_prefix("c:"))
        .unwrap_or(&path);
    collectors::grants::HIVE_FOLDERS
        .iter()
        .any(|folder| path.trim_end_matches('/').eq_ignore_ascii_case(folder))
}

/// The path the plugin knows for a host path, if a grant covers it.
fn guest_path(preopens: &[Preopen], host: &Path) -> Option<String> {
    preopens.iter().find_map(|preopen| {
        let rest = host.strip_prefix(&preopen.host).ok()?;
        let windows = crate::runtime::grants::is_drive_path(&preopen.guest);
        let separator = if windows { '\\' } else { '/' };
        let mut guest = preopen.guest.trim_end_matches(['/', '\\']).to_string();
        for part in rest.components() {
            guest.push(separator);
            guest.push_str(&crate::exact_path::to_guest(part.as_os_str()));
        }
        if guest.is_empty() {
            guest.push(separator);
        }
        Some(guest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preopen(host: &str, guest: &str) -> Preopen {
        Preopen {
            host: host.into(),
            guest: guest.into(),
            is_dir: true,
            present: true,
            fold_case: false,
        }
    }

    #[test]
    fn host_paths_become_guest_paths() {
        let grants = [preopen("/img/etc", "/etc"), preopen("/img/data/", "/data/")];
        assert_eq!(
            guest_path(&grants, Path::new("/img/etc/ssh/sshd_config")).unwrap(),
            "/etc/ssh/sshd_config"
        );
        assert_eq!(guest_path(&grants, Path::new("/img/etc")).unwrap(), "/etc");
        assert_eq!(guest_path(&grants, Path::new("/img/data/x")).unwrap(), "/data/x");
        assert_eq!(guest_path(&grants, Path::new("/elsewhere/x")), None);
        let windows = [preopen("/mnt/c/Windows", r"C:\Windows")];
        assert_eq!(
            guest_path(&windows, Path::new("/mnt/c/Windows/System32/drivers/etc/hosts")).unwrap(),
            r"C:\Windows\System32\drivers\etc\hosts"
        );
    }
}
