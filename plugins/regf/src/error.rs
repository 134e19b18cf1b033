//! What can go wrong reading a hive.

/// A hive that cannot be read, or a part of one that is damaged.
#[derive(Debug, thiserror::Error)]
pub enum RegfError {
    #[error("cannot read the hive: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a registry hive: {0}")]
    NotAHive(String),
    /// A structure inside the hive is broken; `offset` is the cell's offset
    /// relative to the first hive bin, as registry tools print it.
    #[error("damaged hive: {what} at cell offset {offset:#x}")]
    Damaged { offset: u32, what: String },
}

impl RegfError {
    pub(crate) fn damaged(offset: u32, what: impl Into<String>) -> RegfError {
        RegfError::Damaged {
            offset,
            what: what.into(),
        }
    }
}

pub type Result<T, E = RegfError> = std::result::Result<T, E>;
