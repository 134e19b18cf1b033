//! SysV init: scripts in `/etc/init.d`, started and stopped per runlevel by
//! `S##name` / `K##name` links in `/etc/rc?.d` (rcS.d for the boot runlevel).

use std::collections::{BTreeMap, BTreeSet};

use driftwatch_sdk::tree::{Node, Tree, basename, join, resolve};

use crate::lsb::{self, LsbHeader};

pub const INIT_D: &str = "/etc/init.d";
/// Runlevel folders, in the canonical order of `SvcRunlevels`.
pub const RUNLEVELS: [&str; 8] = ["S", "0", "1", "2", "3", "4", "5", "6"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitScript {
    pub name: String,
    pub path: String,
    /// Runlevels with a start link, canonical order, e.g. `S` or `2,3,4,5`.
    pub runlevels: Vec<&'static str>,
    pub header: Option<LsbHeader>,
}

/// Something odd that does not stop the collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oddity {
    pub subject: String,
    pub message: String,
}

pub struct Scan {
    pub scripts: Vec<InitScript>,
    pub oddities: Vec<Oddity>,
}

/// Reads `/etc/init.d` and every `/etc/rc?.d`.
pub fn scan(tree: &dyn Tree) -> Scan {
    let mut oddities = Vec::new();
    let mut scripts: BTreeMap<String, InitScript> = BTreeMap::new();
    for name in tree.list(INIT_D) {
        let path = join(INIT_D, &name);
        let Some(text) = read_script(tree, &path, &mut oddities) else {
            continue;
        };
        if !is_service(&name, &text) {
            continue;
        }
        scripts.insert(
            name.clone(),
            InitScript {
                name,
                path,
                runlevels: Vec::new(),
                header: lsb::parse(&text),
            },
        );
    }
    let mut starts: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (index, level) in RUNLEVELS.iter().enumerate() {
        let dir = format!("/etc/rc{level}.d");
        for entry in tree.list(&dir) {
            let Some((kind, rest)) = link_name(&entry) else {
                continue;
            };
            let link = join(&dir, &entry);
            let service = match tree.node(&link) {
                Node::Symlink(target) => {
                    let dest = resolve(&link, &target);
                    if !matches!(tree.node(&dest), Node::File { .. } | Node::Symlink(_)) {
                        oddities.push(Oddity {
                            subject: link.clone(),
                            message: format!("dangling link to {target}"),
                        });
                        continue;
                    }
                    basename(&dest).to_string()
                }
                // A script placed in the folder itself, or a link stored as a file.
                Node::File { .. } => rest.to_string(),
                Node::Dir | Node::Missing => continue,
            };
            if !scripts.contains_key(&service) {
                oddities.push(Oddity {
                    subject: link,
                    message: format!("{service} is not a script in {INIT_D}"),
                });
                continue;
            }
            if kind == 'S' {
                starts.entry(service).or_default().insert(index);
            }
        }
    }
    for (name, levels) in starts {
        if let Some(script) = scripts.get_mut(&name) {
            script.runlevels = levels.into_iter().map(|i| RUNLEVELS[i]).collect();
        }
    }
    Scan {
        scripts: scripts.into_values().collect(),
        oddities,
    }
}

/// The script's text, following links inside the machine (or image).
fn read_script(tree: &dyn Tree, path: &str, oddities: &mut Vec<Oddity>) -> Option<String> {
    let mut current = path.to_string();
    for _ in 0..16 {
        match tree.node(&current) {
            Node::Symlink(target) => current = resolve(&current, &target),
            Node::File { .. } => return tree.read(&current),
            Node::Dir => return None,
            Node::Missing => {
                oddities.push(Oddity {
                    subject: path.to_string(),
                    message: format!("dangling link (to {current})"),
                });
                return None;
            }
        }
    }
    oddities.push(Oddity {
        subject: path.to_string(),
        message: "symlink loop".into(),
    });
    None
}

/// Helper files in init.d (function libraries, READMEs) are not services: a
/// service script has an LSB header or is a shell script taking an action.
fn is_service(name: &str, text: &str) -> bool {
    if name.starts_with('.') || name.starts_with("README") || name.ends_with(".dpkg-old") || name.ends_with("~") {
        return false;
    }
    text.contains("### BEGIN INIT INFO") || (text.starts_with("#!") && text.contains("start"))
}

/// `S20ssh` → ('S', "ssh"); anything else is not a runlevel link.
fn link_name(entry: &str) -> Option<(char, &str)> {
    let mut chars = entry.chars();
    let kind = chars.next().filter(|c| *c == 'S' || *c == 'K')?;
    let digits = entry.get(1..3)?;
    (digits.chars().all(|c| c.is_ascii_digit()) && entry.len() > 3).then(|| (kind, &entry[3..]))
}

#[cfg(test)]
mod tests;
