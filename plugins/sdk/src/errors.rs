//! `?` from what a collector reads into `CollectError`: a source that is
//! not there is `not-found` (the collector then has nothing to report), one
//! that is there but cannot be read — denied included — is `unreadable`.

use crate::CollectError;
use crate::fs::FsError;
use crate::registry::RegistryError;

impl CollectError {
    /// The message, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(m) | Self::Unreadable(m) | Self::InvalidSettings(m) | Self::Failed(m) => m,
        }
    }
}

impl From<FsError> for CollectError {
    fn from(error: FsError) -> Self {
        match error {
            FsError::NotFound(m) => CollectError::NotFound(m),
            FsError::Denied(m) => CollectError::Unreadable(format!("denied: {m}")),
            FsError::Io(m) => CollectError::Unreadable(m),
        }
    }
}

impl From<RegistryError> for CollectError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Unavailable(m) => CollectError::NotFound(m),
            RegistryError::Denied(m) => CollectError::Unreadable(format!("denied: {m}")),
            RegistryError::Damaged(m) | RegistryError::Io(m) => CollectError::Unreadable(m),
        }
    }
}

impl From<std::io::Error> for CollectError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::NotFound => CollectError::NotFound(error.to_string()),
            std::io::ErrorKind::PermissionDenied => CollectError::Unreadable(format!("denied: {error}")),
            _ => CollectError::Unreadable(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_with_question_marks(which: u8) -> Result<(), CollectError> {
        match which {
            0 => Err(FsError::Denied("/etc/shadow".into()))?,
            1 => Err(RegistryError::Unavailable("no hive".into()))?,
            _ => {
                std::fs::read("/nonexistent/driftwatch-sdk-test")?;
                Ok(())
            }
        }
    }

    #[test]
    fn question_marks_turn_read_errors_into_collect_errors() {
        assert!(
            matches!(collect_with_question_marks(0), Err(CollectError::Unreadable(m)) if m == "denied: /etc/shadow")
        );
        assert!(matches!(collect_with_question_marks(1), Err(CollectError::NotFound(m)) if m == "no hive"));
        assert!(matches!(collect_with_question_marks(2), Err(CollectError::NotFound(_))));
    }
}
