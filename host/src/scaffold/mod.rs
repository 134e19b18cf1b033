//! `driftwatch plugin new`: a collector plugin project of one's own, which
//! builds with one command and passes `driftwatch plugin check` as
//! generated, with a unit test to grow. The templates (one folder per
//! language) are complete collectors of their kind that a stranger edits,
//! not stubs.

use std::path::{Path, PathBuf};

use crate::kind::Kind;

mod javascript;
mod python;
mod rust;

/// The language of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// The Rust SDK (`driftwatch-sdk`)
    Rust,
    /// componentize-py, which bundles CPython
    Python,
    /// componentize-js, which bundles the StarlingMonkey engine
    Javascript,
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Javascript => "JavaScript",
        })
    }
}

/// Where the project's `driftwatch-sdk` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// A git dependency on the project's repository.
    Git(String),
    /// A checkout's `plugins/sdk` folder.
    Path(PathBuf),
}

/// What to make.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The plugin's (and its crate's) name.
    pub name: String,
    pub kind: Kind,
    pub lang: Lang,
    /// The project folder to create; it must not exist.
    pub dir: PathBuf,
    pub sdk: Sdk,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0:?} cannot name a plugin: use 1 to 64 lowercase letters, digits and `-`, starting with a letter")]
    BadName(String),
    #[error("{} already exists: give a folder that does not", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "{lang} projects are packages or services collectors; a {kind} collector is scaffolded in Rust (--lang rust), whose SDK walks tracked paths with their rules and reads registry keys live and from offline hives"
    )]
    Unsupported { lang: Lang, kind: Kind },
}

const MANIFEST: &str = include_str!("manifest.toml.in");

/// What the example manifest entry tracks, for kinds that track something.
fn manifest_entry(kind: Kind) -> &'static str {
    match kind {
        Kind::Files => "  [[collector.paths]]\n  path = \"/etc/hosts\"\n",
        Kind::Registry => "  [[collector.keys]]\n  key = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run'\n",
        Kind::Packages | Kind::Services => "",
    }
}

/// A project's files and how to use it.
pub struct Project {
    /// Each file, relative to the project folder, and its text.
    pub files: Vec<(&'static str, String)>,
    /// The one command that builds it, run in its folder.
    pub build: &'static str,
    /// The file the build makes, relative to the folder.
    pub wasm: String,
    /// The command that runs its unit tests.
    pub test: &'static str,
}

impl NewPlugin {
    /// Writes the project; what was written and how to build it.
    pub fn create(&self) -> Result<Project, ScaffoldError> {
        check_name(&self.name)?;
        if self.dir.exists() {
            return Err(ScaffoldError::Exists(self.dir.clone()));
        }
        let project = self.project()?;
        for (relative, text) in &project.files {
            write(&self.dir.join(relative), text)?;
        }
        Ok(project)
    }

    fn project(&self) -> Result<Project, ScaffoldError> {
        let mut project = match self.lang {
            Lang::Rust => rust::project(self),
            Lang::Python => python::project(self)?,
            Lang::Javascript => javascript::project(self)?,
        };
        let manifest = fill(
            MANIFEST,
            &[
                ("__NAME__", &self.name),
                ("__KIND__", self.kind.as_str()),
                ("__WASM__", &project.wasm),
                ("__ENTRY__", manifest_entry(self.kind)),
            ],
        );
        project.files.push(("manifest.toml", manifest));
        Ok(project)
    }
}

/// The kind-specific templates of a list-reading Python or JavaScript project.
struct KindParts {
    /// The parsing module and its unit test.
    listing: &'static str,
    test: &'static str,
    /// How an item of the list becomes a record.
    record: &'static str,
    /// What it collects, capitalized: `Packages` or `Services` (Python's
    /// export class is named so too).
    title: &'static str,
}

/// The text of a template with its placeholders replaced.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |text, (placeholder, value)| {
        text.replace(placeholder, value)
    })
}

/// What a list-reading Python or JavaScript collector of `kind` reads, and
/// how its lines look; `Unsupported` for the kinds only the Rust SDK
/// scaffolds (their records follow the SDK's walks and value renderings).
fn list_of(new: &NewPlugin) -> Result<(String, &'static str), ScaffoldError> {
    match new.kind {
        Kind::Packages => Ok((format!("/opt/{}/packages.txt", new.name), "name version")),
        Kind::Services => Ok((format!("/etc/{}/services.txt", new.name), "name state")),
        Kind::Files | Kind::Registry => Err(ScaffoldError::Unsupported {
            lang: new.lang,
            kind: new.kind,
        }),
    }
}

/// A plugin name the host accepts and a crate name cargo accepts.
fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::BadName(name.to_string()))
    }
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let error = |source| ScaffoldError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    std::fs::write(path, text).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path, kind: Kind) -> NewPlugin {
        NewPlugin {
            name: "site-inventory".into(),
            kind,
            lang: Lang::Rust,
            dir: dir.join("site-inventory"),
            sdk: Sdk::Path("/src/driftwatch/plugins/sdk".into()),
        }
    }

    /// A placeholder left in a written file (`__init__` is Python's own).
    fn placeholder(text: &str) -> Option<&str> {
        text.match_indices("__").find_map(|(at, _)| {
            let rest = &text[at + 2..];
            let word = rest.split("__").next()?;
            (!word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')).then_some(word)
        })
    }

    #[test]
    fn a_project_is_written_with_its_names_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        for kind in Kind::ALL {
            let new = NewPlugin {
                dir: dir.path().join(kind.as_str()),
                ..request(dir.path(), kind)
            };
            let project = new.create().unwrap();
            let written: Vec<&str> = project.files.iter().map(|(file, _)| *file).collect();
            assert_eq!(
                written,
                ["Cargo.toml", "src/lib.rs", "README.md", ".gitignore", "manifest.toml"]
            );
            for file in written {
                let text = std::fs::read_to_string(new.dir.join(file)).unwrap();
                assert_eq!(placeholder(&text), None, "{file} keeps a placeholder:\n{text}");
            }
            let cargo = std::fs::read_to_string(new.dir.join("Cargo.toml")).unwrap();
            assert!(cargo.contains("name = \"site-inventory\""), "{cargo}");
            assert!(
                cargo.contains(r#"driftwatch-sdk = { path = "/src/driftwatch/plugins/sdk" }"#),
                "{cargo}"
            );
            let source = std::fs::read_to_string(new.dir.join("src/lib.rs")).unwrap();
            assert!(
                source.contains(&format!("export_collector!({}:", kind.as_str())),
                "{source}"
            );
            let manifest = std::fs::read_to_string(new.dir.join("manifest.toml")).unwrap();
            // The manifest names the file a build makes.
            let built = new.dir.join(&project.wasm);
            assert!(project.wasm.ends_with("site_inventory.wasm"), "{}", project.wasm);
            std::fs::create_dir_all(built.parent().unwrap()).unwrap();
            std::fs::write(&built, b"").unwrap();
            let parsed = crate::manifest::Manifest::parse(&manifest, "manifest.toml", &new.dir).unwrap();
            assert_eq!(parsed.collectors[0].kind, kind);
        }
    }

    #[test]
    fn python_and_javascript_projects_collect_packages_or_services() {
        let dir = tempfile::tempdir().unwrap();
        for (lang, source) in [(Lang::Python, "collector.py"), (Lang::Javascript, "collector.js")] {
            for kind in [Kind::Packages, Kind::Services] {
                let new = NewPlugin {
                    lang,
                    dir: dir.path().join(format!("{lang:?}-{kind}")),
                    ..request(dir.path(), kind)
                };
                let project = new.create().unwrap();
                assert_eq!(project.wasm, "site-inventory.wasm");
                for (file, _) in &project.files {
                    let text = std::fs::read_to_string(new.dir.join(file)).unwrap();
                    assert_eq!(placeholder(&text), None, "{lang:?} {kind} {file}:\n{text}");
                    // Files taken from the examples name the project instead.
                    for example in ["packages-npm", "packages-python", "example:", "globally installed"] {
                        assert!(!text.contains(example), "{lang:?} {kind} {file}:\n{text}");
                    }
                    if kind == Kind::Services {
                        for other in ["packages-collector", "packages collector"] {
                            assert!(!text.contains(other), "{lang:?} {kind} {file}:\n{text}");
                        }
                    }
                }
                let text = std::fs::read_to_string(new.dir.join(source)).unwrap();
                let list = match kind {
                    Kind::Packages => "/opt/site-inventory/packages.txt",
                    _ => "/etc/site-inventory/services.txt",
                };
                assert!(text.contains(list), "{text}");
            }
            for kind in [Kind::Files, Kind::Registry] {
                let new = NewPlugin {
                    lang,
                    dir: dir.path().join(format!("{lang:?}-{kind}")),
                    ..request(dir.path(), kind)
                };
                assert!(matches!(new.create(), Err(ScaffoldError::Unsupported { .. })));
                assert!(!new.dir.exists());
            }
        }
    }

    #[test]
    fn names_and_folders_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Upper", "1st", "under_score", "sp ace", &"x".repeat(65)] {
            let new = NewPlugin {
                name: bad.to_string(),
                ..request(dir.path(), Kind::Packages)
            };
            assert!(matches!(new.create(), Err(ScaffoldError::BadName(_))), "{bad:?}");
        }
        let new = request(dir.path(), Kind::Packages);
        std::fs::create_dir_all(&new.dir).unwrap();
        assert!(matches!(new.create(), Err(ScaffoldError::Exists(_))));
    }
}
