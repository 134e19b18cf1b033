//! Unit files and their enablement, the way `systemctl list-unit-files`
//! decides them: the first file of a name along the search path wins;
//! masks, aliases, generated and transient units are told apart by where the
//! file is and what it links to; enablement comes from symlinks named after
//! the unit (or its `Alias=`, or its template's `DefaultInstance=`) in
//! `.wants/` and `.requires/` folders and at the top of the unit folders.
//!
//! Every folder is read once into an index; the per-unit decisions then run
//! in memory (reading them again per unit costs seconds in a sandbox).

use std::collections::BTreeMap;

use driftwatch_sdk::tree::{Node, Tree, basename, dirname, is_under, join, resolve};

use crate::unit_file::UnitFile;

/// The system unit search path, highest priority first.
pub const SEARCH_PATH: [&str; 13] = [
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
];
const PERSISTENT_CONFIG: &str = "/etc/systemd/system";
const TRANSIENT: &str = "/run/systemd/transient";
const GENERATORS: [&str; 3] = [
    "/run/systemd/generator.early",
    "/run/systemd/generator",
    "/run/systemd/generator.late",
];
/// Symlink chains longer than this are broken.
const MAX_LINKS: usize = 64;

/// A unit file as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    /// systemd's word for its enablement.
    pub state: &'static str,
    /// The parsed unit (with drop-ins), when there is one to read.
    pub file: Option<UnitFile>,
    /// Where it was found and what it resolved to.
    pub path: String,
}

/// A symlink in a unit folder (top level or a `.wants/` / `.requires/` folder).
struct Link {
    /// The search-path folder it belongs to.
    dir: &'static str,
    /// The folder it is in.
    folder: String,
    name: String,
    /// Where it points, absolute.
    dest: String,
}

/// What the search path holds, read once.
struct Index {
    /// Per search-path folder, its top-level names.
    names: Vec<(&'static str, Vec<String>)>,
    links: Vec<Link>,
    /// `<unit>.d` folder name → `(conf name, path)`, highest priority first.
    drop_ins: BTreeMap<String, Vec<(String, String)>>,
}

impl Index {
    fn read(tree: &dyn Tree) -> Index {
        let mut index = Index {
            names: Vec::new(),
            links: Vec::new(),
            drop_ins: BTreeMap::new(),
        };
        for dir in SEARCH_PATH {
            let names = tree.list(dir);
            for name in &names {
                let path = join(dir, name);
                match tree.node(&path) {
                    Node::Symlink(target) => index.links.push(Link {
                        dir,
                        folder: dir.to_string(),
                        name: name.clone(),
                        dest: resolve(&path, &target),
                    }),
                    Node::Dir if name.ends_with(".wants") || name.ends_with(".requires") => {
                        for link in tree.list(&path) {
                            let link_path = join(&path, &link);
                            if let Node::Symlink(target) = tree.node(&link_path) {
                                index.links.push(Link {
                                    dir,
                                    folder: path.clone(),
                                    name: link,
                                    dest: resolve(&link_path, &target),
                                });
                            }
                        }
                    }
                    Node::Dir if name.ends_with(".d") => {
                        let confs = index.drop_ins.entry(name.clone()).or_default();
                        for conf in tree.list(&path).into_iter().filter(|c| c.ends_with(".conf")) {
                            if !confs.iter().any(|(c, _)| *c == conf) {
                                confs.push((conf.clone(), join(&path, &conf)));
                            }
                        }
                    }
                    _ => {}
                }
            }
            index.names.push((dir, names));
        }
        index
    }
}

/// Every unit of a type (`.service`), by name, with its state.
pub fn units(tree: &dyn Tree, suffix: &str) -> Vec<Unit> {
    let index = Index::read(tree);
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for (dir, names) in &index.names {
        for name in names {
            if name.ends_with(suffix) && valid_name(name) {
                first.entry(name.clone()).or_insert_with(|| join(dir, name));
            }
        }
    }
    first
        .into_iter()
        .map(|(name, path)| unit(tree, &index, name, path))
        .collect()
}

fn unit(tree: &dyn Tree, index: &Index, name: String, path: String) -> Unit {
    let found = match follow(tree, &path) {
        Resolved::File(file) => file,
        Resolved::Masked => {
            let state = if path.starts_with("/run/") {
                "masked-runtime"
            } else {
                "masked"
            };
            return Unit {
                name,
                state,
                file: None,
                path,
            };
        }
        Resolved::Broken => {
            return Unit {
                name,
                state: "bad",
                file: None,
                path,
            };
        }
    };
    let mut file = tree.read(&found).map(|text| UnitFile::parse(&text)).unwrap_or_default();
    for drop_in in drop_ins(tree, index, &name) {
        file.extend(drop_in);
    }
    let state = if basename(&found) != name && !is_instance(&name) {
        "alias"
    } else if GENERATORS.contains(&dirname(&found)) {
        "generated"
    } else if dirname(&found) == TRANSIENT {
        "transient"
    } else {
        let install = Install::from(&file, &name, &found);
        match (links(index, &install, true), links(index, &install, false)) {
            (Some(state), _) => state,
            (None, Some(_)) => "indirect",
            (None, None) if install.has_rules() => "disabled",
            (None, None) if !install.also.is_empty() => "indirect",
            (None, None) => "static",
        }
    };
    Unit {
        name,
        state,
        file: Some(file),
        path: found,
    }
}

enum Resolved {
    File(String),
    Masked,
    Broken,
}

/// Follows symlinks to the unit file; a link to /dev/null or an empty file is a mask.
fn follow(tree: &dyn Tree, path: &str) -> Resolved {
    let mut current = path.to_string();
    for _ in 0..MAX_LINKS {
        match tree.node(&current) {
            Node::Symlink(target) if target == "/dev/null" => return Resolved::Masked,
            Node::Symlink(target) => current = resolve(&current, &target),
            Node::File { empty: true } => return Resolved::Masked,
            Node::File { empty: false } => return Resolved::File(current),
            Node::Dir | Node::Missing => return Resolved::Broken,
        }
    }
    Resolved::Broken
}

/// `<name>.d/*.conf` (and the template's for an instance); for each file
/// name the highest-priority one, applied in name order.
fn drop_ins(tree: &dyn Tree, index: &Index, name: &str) -> Vec<UnitFile> {
    let mut names = vec![name.to_string()];
    if let Some(template) = template_of(name) {
        names.insert(0, template);
    }
    let mut files: BTreeMap<&str, &str> = BTreeMap::new();
    for unit in &names {
        for (conf, path) in index.drop_ins.get(&format!("{unit}.d")).into_iter().flatten() {
            files.entry(conf).or_insert(path);
        }
    }
    files
        .values()
        .filter_map(|path| tree.read(path))
        .map(|t| UnitFile::parse(&t))
        .collect()
}

/// The `[Install]` facts that decide enablement.
struct Install {
    name: String,
    /// The unit file's path, for "below the unit file" checks.
    path: String,
    aliases: Vec<String>,
    wanted_by: Vec<String>,
    required_by: Vec<String>,
    also: Vec<String>,
    default_instance: Option<String>,
}

impl Install {
    fn from(file: &UnitFile, name: &str, path: &str) -> Install {
        Install {
            name: name.to_string(),
            path: path.to_string(),
            aliases: file.words("Install", "Alias"),
            wanted_by: file.words("Install", "WantedBy"),
            required_by: file.words("Install", "RequiredBy"),
            also: file.words("Install", "Also"),
            default_instance: file.value("Install", "DefaultInstance").map(str::to_string),
        }
    }

    fn has_rules(&self) -> bool {
        !(self.aliases.is_empty() && self.wanted_by.is_empty() && self.required_by.is_empty())
    }

    /// Names a symlink may carry and still be this unit's own enablement.
    fn known_name(&self, link: &str) -> bool {
        link == self.name
            || self.aliases.iter().any(|a| a == link)
            || (self.name.contains("@.")
                && self
                    .default_instance
                    .as_deref()
                    .is_some_and(|instance| link == self.name.replacen("@.", &format!("@{instance}."), 1)))
    }
}

/// Searches every unit folder for symlinks to the unit. With `known_only`,
/// only links under the unit's own names count (enablement); without, any
/// link to it does (the unit is used under other names: "indirect").
fn links(index: &Index, install: &Install, known_only: bool) -> Option<&'static str> {
    let (mut in_runtime, mut elsewhere, mut same_name_config, mut same_name_runtime) = (false, false, false, false);
    let mut ignore_same_name = false;
    for dir in SEARCH_PATH {
        let (found, same_name) = links_in(index, dir, install, known_only, ignore_same_name);
        if found {
            if dir == PERSISTENT_CONFIG {
                return Some("enabled");
            }
            if dir.starts_with("/run/") {
                in_runtime = true;
            } else {
                elsewhere = true;
            }
        } else if same_name {
            if dir == PERSISTENT_CONFIG {
                same_name_config = true;
            } else if dir.starts_with("/run/") {
                same_name_runtime = true;
            }
        }
        // Same-name links in folders below the unit file itself are shadowed.
        if is_under(&install.path, dir) {
            ignore_same_name = true;
        }
    }
    if in_runtime {
        Some("enabled-runtime")
    } else if elsewhere && is_instance(&install.name) {
        Some("static")
    } else if same_name_config {
        Some("linked")
    } else if same_name_runtime {
        Some("linked-runtime")
    } else {
        None
    }
}

/// Looks in a unit folder's `.wants/` and `.requires/` folders, then at its
/// top. Returns (found, saw a same-name link to itself).
fn links_in(index: &Index, dir: &str, install: &Install, known_only: bool, ignore_same_name: bool) -> (bool, bool) {
    let mut same_name = false;
    // Subfolders first, as systemd looks there before the folder's top.
    let in_dir = index.links.iter().filter(|l| l.dir == dir);
    let (top, sub): (Vec<&Link>, Vec<&Link>) = in_dir.partition(|l| l.folder == dir);
    for link in sub.into_iter().chain(top) {
        let found_path = !ignore_same_name && link.name == install.name;
        let found_dest = basename(&link.dest) == install.name;
        if found_path && found_dest && link.folder == dir {
            same_name = true;
        } else if (found_path || found_dest) && (!known_only || install.known_name(&link.name)) {
            return (true, same_name);
        }
    }
    (false, same_name)
}

/// `foo@bar.service` (an instance), as opposed to `foo@.service` (a template).
fn is_instance(name: &str) -> bool {
    name.split_once('@').is_some_and(|(_, rest)| !rest.starts_with('.'))
}

/// `foo@.service` for `foo@bar.service`.
fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let suffix = rest.rfind('.').map(|i| &rest[i..])?;
    (!rest.starts_with('.')).then(|| format!("{prefix}@{suffix}"))
}

/// Unit names are printable ASCII without slashes.
fn valid_name(name: &str) -> bool {
    !name.starts_with('.') && name.chars().all(|c| c.is_ascii_graphic() && c != '/')
}

#[cfg(test)]
mod tests;
