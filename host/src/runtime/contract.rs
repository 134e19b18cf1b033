//! The WIT text of the contract this host speaks, carried in the binary so
//! that `driftwatch plugin wit` can hand it to plugin builds in any language
//! (componentize-py and componentize-js read WIT files, not Rust crates).

use std::path::{Path, PathBuf};

/// Every file of `wit/since_v0.1.3` (the folder of `CONTRACT_VERSION`), by name.
pub const FILES: &[(&str, &str)] = &[
    ("access.wit", include_str!("../../../wit/since_v0.1.3/access.wit")),
    ("files.wit", include_str!("../../../wit/since_v0.1.3/files.wit")),
    ("fs.wit", include_str!("../../../wit/since_v0.1.3/fs.wit")),
    ("host.wit", include_str!("../../../wit/since_v0.1.3/host.wit")),
    ("packages.wit", include_str!("../../../wit/since_v0.1.3/packages.wit")),
    ("registry.wit", include_str!("../../../wit/since_v0.1.3/registry.wit")),
    ("services.wit", include_str!("../../../wit/since_v0.1.3/services.wit")),
    ("types.wit", include_str!("../../../wit/since_v0.1.3/types.wit")),
    ("windows.wit", include_str!("../../../wit/since_v0.1.3/windows.wit")),
    ("worlds.wit", include_str!("../../../wit/since_v0.1.3/worlds.wit")),
];

#[derive(Debug, thiserror::Error)]
#[error("cannot write the contract's {}: {source}", path.display())]
pub struct WriteError {
    path: PathBuf,
    source: std::io::Error,
}

/// Writes the contract's files into `dir` (created if missing; files of the
/// same names are replaced, others left as they are: give a fresh folder
/// when moving to a new version). Returns the paths written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(error(dir))?;
    FILES
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(error(&path))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::CONTRACT_VERSION as VERSION;

    /// The list above is the whole folder the bindings are generated from.
    #[test]
    fn every_file_of_the_newest_contract_is_carried() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../wit/since_v{VERSION}"));
        let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".wit"))
            .collect();
        on_disk.sort();
        let carried: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(carried, on_disk);
        let newest = std::fs::read_dir(folder.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|name| name.strip_prefix("since_v").map(str::to_string))
            .max_by_key(|v| v.split('.').map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>());
        assert_eq!(newest.as_deref(), Some(VERSION));
    }

    #[test]
    fn the_written_folder_is_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(&dir.path().join("wit")).unwrap();
        assert_eq!(written.len(), FILES.len());
        let worlds = std::fs::read_to_string(dir.path().join("wit/worlds.wit")).unwrap();
        assert!(worlds.contains(&format!("package driftwatch:collector@{VERSION};")));
    }
}
