//! `driftwatch plugin new`: a collector plugin project of one's own, which
//! builds with one command and passes `driftwatch plugin check` as
//! generated, with a unit test to grow. The templates (in `rust/`) are
//! complete collectors of their kind that a stranger edits, not stubs.

use std::path::{Path, PathBuf};

use crate::kind::Kind;

/// The language of the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
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
}

const CARGO_TOML: &str = include_str!("rust/Cargo.toml.in");
const GITIGNORE: &str = include_str!("rust/gitignore.in");
const README: &str = include_str!("rust/README.md.in");
const MANIFEST: &str = include_str!("rust/manifest.toml.in");

/// The collector's source, for a kind.
fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Packages => include_str!("rust/packages.rs.in"),
        Kind::Services => include_str!("rust/services.rs.in"),
        Kind::Files => include_str!("rust/files.rs.in"),
        Kind::Registry => include_str!("rust/registry.rs.in"),
    }
}

/// What the example manifest entry tracks, for kinds that track something.
fn manifest_entry(kind: Kind) -> &'static str {
    match kind {
        Kind::Files => "  [[collector.paths]]\n  path = \"/etc/hosts\"\n",
        Kind::Registry => "  [[collector.keys]]\n  key = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run'\n",
        Kind::Packages | Kind::Services => "",
    }
}

impl NewPlugin {
    /// Writes the project; the files written, relative to its folder.
    pub fn create(&self) -> Result<Vec<&'static str>, ScaffoldError> {
        check_name(&self.name)?;
        if self.dir.exists() {
            return Err(ScaffoldError::Exists(self.dir.clone()));
        }
        let files = self.files();
        for (relative, text) in &files {
            write(&self.dir.join(relative), text)?;
        }
        Ok(files.into_iter().map(|(relative, _)| relative).collect())
    }

    /// Each file of the project and its text.
    fn files(&self) -> Vec<(&'static str, String)> {
        let sdk = match &self.sdk {
            Sdk::Git(url) => format!("driftwatch-sdk = {{ git = {:?} }}", url),
            Sdk::Path(path) => format!("driftwatch-sdk = {{ path = {:?} }}", path.display().to_string()),
        };
        let fill = |template: &str| {
            template
                .replace("__NAME__", &self.name)
                .replace("__CRATE__", &self.name.replace('-', "_"))
                .replace("__KIND__", self.kind.as_str())
                .replace("__SDK__", &sdk)
                .replace("__ENTRY__", manifest_entry(self.kind))
        };
        match self.lang {
            Lang::Rust => vec![
                ("Cargo.toml", fill(CARGO_TOML)),
                ("src/lib.rs", fill(source(self.kind))),
                ("manifest.toml", fill(MANIFEST)),
                ("README.md", fill(README)),
                (".gitignore", fill(GITIGNORE)),
            ],
        }
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

    #[test]
    fn a_project_is_written_with_its_names_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        for kind in Kind::ALL {
            let new = NewPlugin {
                dir: dir.path().join(kind.as_str()),
                ..request(dir.path(), kind)
            };
            let written = new.create().unwrap();
            assert_eq!(
                written,
                ["Cargo.toml", "src/lib.rs", "manifest.toml", "README.md", ".gitignore"]
            );
            for file in written {
                let text = std::fs::read_to_string(new.dir.join(file)).unwrap();
                assert!(!text.contains("__"), "{file} keeps a placeholder:\n{text}");
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
            let built = new.dir.join("target/wasm32-wasip2/release/site_inventory.wasm");
            std::fs::create_dir_all(built.parent().unwrap()).unwrap();
            std::fs::write(&built, b"").unwrap();
            let parsed = crate::manifest::Manifest::parse(&manifest, "manifest.toml", &new.dir).unwrap();
            assert_eq!(parsed.collectors[0].kind, kind);
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
