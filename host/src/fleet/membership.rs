//! `<state>/fleet.json`: which server, as which machine, with which
//! credential. Readable by its owner only: the credential lets its holder
//! speak for this machine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const MEMBERSHIP_FILE: &str = "fleet.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The server's base address, `https://host:port`.
    pub server: String,
    /// The name this machine enrolled under.
    pub machine: String,
    pub credential: String,
    /// The CA certificate (PEM) the server's certificate is checked against,
    /// when it is not one the system trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path} is not a fleet membership file: {error}")]
    Parse { path: PathBuf, error: serde_json::Error },
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

impl Membership {
    /// The membership saved in `state_dir`, if this machine enrolled.
    pub fn load(state_dir: &Path) -> Result<Option<Membership>, MembershipError> {
        let path = state_dir.join(MEMBERSHIP_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(MembershipError::Read { path, error }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| MembershipError::Parse { path, error })
    }

    /// Saves it in `state_dir` (owner-only), replacing any earlier one whole.
    pub fn save(&self, state_dir: &Path) -> Result<PathBuf, MembershipError> {
        let path = state_dir.join(MEMBERSHIP_FILE);
        let error = |error| MembershipError::Write {
            path: path.clone(),
            error,
        };
        std::fs::create_dir_all(state_dir).map_err(error)?;
        let temporary = state_dir.join(format!("{MEMBERSHIP_FILE}.new"));
        let text = serde_json::to_string_pretty(self).map_err(|e| error(e.into()))?;
        write_private(&temporary, text.as_bytes()).map_err(error)?;
        std::fs::rename(&temporary, &path).map_err(error)?;
        Ok(path)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_membership_loads_back_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Membership::load(dir.path()).unwrap(), None);
        let membership = Membership {
            server: "https://fleet.example:8443".into(),
            machine: "web-1".into(),
            credential: "dwm_0123".into(),
            ca: Some("-----BEGIN CERTIFICATE-----\n...".into()),
        };
        let path = membership.save(dir.path()).unwrap();
        assert_eq!(Membership::load(dir.path()).unwrap(), Some(membership));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(
            Membership::load(dir.path()),
            Err(MembershipError::Parse { .. })
        ));
    }
}
