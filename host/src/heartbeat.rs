//! What this machine's `Heartbeat` rows say (Azure's table of that name):
//! its OS, by type, name and version, and the agent's version. On Linux
//! the name and version come from `/etc/os-release` (under `--root` for an
//! image); Windows images are read by the plugins only, so there the name
//! is the OS type.

use std::path::Path;

use driftwatch_protocol::{Heartbeat, MAX_HEARTBEAT_TEXT};

use crate::kind::Os;
use crate::machine::Machine;

/// The longest `os-release` read: the file is a few hundred bytes.
const MAX_OS_RELEASE: u64 = 64 * 1024;

/// The heartbeat facts of `machine`.
pub fn of(machine: &Machine) -> Heartbeat {
    let os_type = match machine.os {
        Os::Linux => "Linux",
        Os::Windows => "Windows",
        Os::Macos => "macOS",
        Os::Other => "Other",
    };
    let release = match machine.os {
        Os::Linux => {
            let root = machine.root.as_deref().unwrap_or(Path::new("/"));
            read_os_release(root).unwrap_or_default()
        }
        _ => String::new(),
    };
    let (name, version) = os_release_fields(&release);
    let mut parts = version.split('.');
    // Short, and without the control characters a server refuses.
    let cut = |text: &str| {
        text.chars()
            .filter(|c| !c.is_control())
            .take(MAX_HEARTBEAT_TEXT / 4)
            .collect::<String>()
    };
    Heartbeat {
        os_type: os_type.to_string(),
        os_name: cut(if name.is_empty() { os_type } else { &name }),
        os_major_version: cut(parts.next().unwrap_or_default()),
        os_minor_version: cut(parts.next().unwrap_or_default()),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// `etc/os-release`, else `usr/lib/os-release` (the fallback the format
/// defines), at most [`MAX_OS_RELEASE`] bytes of it.
fn read_os_release(root: &Path) -> Option<String> {
    use std::io::Read;
    ["etc/os-release", "usr/lib/os-release"].iter().find_map(|path| {
        let file = std::fs::File::open(root.join(path)).ok()?;
        let mut text = String::new();
        file.take(MAX_OS_RELEASE).read_to_string(&mut text).ok()?;
        Some(text)
    })
}

/// `NAME` (Azure's `OSName` is the distribution's name) and `VERSION_ID`
/// of an `os-release` text: `KEY=value` lines, values optionally quoted.
fn os_release_fields(text: &str) -> (String, String) {
    let mut name = String::new();
    let mut version = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        match key.trim() {
            "NAME" => name = value.replace("\\\"", "\""),
            "VERSION_ID" => version = value.to_string(),
            _ => {}
        }
    }
    (name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_and_versions() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release_fields(debian), ("Debian GNU/Linux".into(), "12".into()));
        let ubuntu = "NAME='Ubuntu'\nVERSION_ID=22.04\n# a comment\nnot a pair\n";
        assert_eq!(os_release_fields(ubuntu), ("Ubuntu".into(), "22.04".into()));
        assert_eq!(os_release_fields(""), (String::new(), String::new()));
    }

    #[test]
    fn an_image_is_described_from_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(
            dir.path().join("usr/lib/os-release"),
            "NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\n",
        )
        .unwrap();
        let machine = Machine {
            os: Os::Linux,
            hostname: "img".into(),
            root: Some(dir.path().to_path_buf()),
            architecture: String::new(),
        };
        let beat = of(&machine);
        assert_eq!(
            (
                beat.os_type.as_str(),
                beat.os_name.as_str(),
                beat.os_major_version.as_str(),
                beat.os_minor_version.as_str()
            ),
            ("Linux", "Rocky Linux", "9", "3")
        );
        let windows = Machine {
            os: Os::Windows,
            ..machine
        };
        assert_eq!(of(&windows).os_name, "Windows");
    }
}
