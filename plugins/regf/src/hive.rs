//! A hive file: its base block, and reading cells by offset.

use std::cell::RefCell;
use std::path::Path;

use crate::error::{RegfError, Result};
use crate::key::Key;
use crate::source::{PagedFile, Source};

/// The base block ("regf" header) is one 4 KiB page; hive bins follow it and
/// cell offsets count from there.
pub(crate) const BASE_BLOCK: u64 = 4096;
/// Hive format 1.4 and later split values over 16,344 bytes into "db" segments.
pub(crate) const BIG_DATA_MIN: u32 = 16344;

/// An open hive. Reading never writes, and damage found while reading is
/// either an error (for what was asked) or a warning (for what was skipped).
pub struct Hive {
    source: Source,
    /// End of the cell area, relative to the first hive bin.
    bins_end: u64,
    root: u32,
    minor_version: u32,
    last_written: u64,
    warnings: RefCell<Vec<String>>,
}

impl std::fmt::Debug for Hive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hive")
            .field("len", &self.source.len())
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Hive {
    /// Opens a hive file; its pages are read as they are needed.
    pub fn open(path: &Path) -> Result<Hive> {
        let file = std::fs::File::open(path)?;
        Hive::new(Source::File(PagedFile::new(file)?))
    }

    /// A hive held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Hive> {
        Hive::new(Source::Memory(bytes))
    }

    fn new(source: Source) -> Result<Hive> {
        let header = source
            .read(0, 512)?
            .ok_or_else(|| RegfError::NotAHive(format!("{} bytes, shorter than a base block", source.len())))?;
        if &header[..4] != b"regf" {
            return Err(RegfError::NotAHive("no \"regf\" signature".into()));
        }
        let u32_at = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let mut warnings = Vec::new();
        let (major, minor) = (u32_at(0x14), u32_at(0x18));
        if major != 1 {
            return Err(RegfError::NotAHive(format!("unknown format version {major}.{minor}")));
        }
        if u32_at(0x04) != u32_at(0x08) {
            warnings.push(
                "the hive was not closed cleanly (sequence numbers differ) and its transaction logs are not \
                 applied: the newest changes may be missing"
                    .to_string(),
            );
        }
        // XOR of the first 508 bytes, with 0 and all-ones stored as 1 and all-ones minus one.
        let checksum = match (0..0x1fc).step_by(4).fold(0u32, |sum, at| sum ^ u32_at(at)) {
            0 => 1,
            u32::MAX => u32::MAX - 1,
            sum => sum,
        };
        if checksum != u32_at(0x1fc) {
            warnings.push("the hive's base block checksum does not match".into());
        }
        // Trust the file's length over a damaged size field.
        let available = source.len().saturating_sub(BASE_BLOCK);
        let declared = u64::from(u32_at(0x28));
        if declared > available {
            warnings.push(format!(
                "the hive declares {declared} bytes of data but the file holds {available}: it is truncated"
            ));
        }
        let bins_end = if declared == 0 {
            available
        } else {
            declared.min(available)
        };
        let last_written = u64::from(u32_at(0x0c)) | (u64::from(u32_at(0x10)) << 32);
        let hive = Hive {
            source,
            bins_end,
            root: u32_at(0x24),
            minor_version: minor,
            last_written,
            warnings: RefCell::new(warnings),
        };
        hive.root()?;
        Ok(hive)
    }

    /// The root key (its name is whatever the hive's writer called it).
    pub fn root(&self) -> Result<Key<'_>> {
        Key::at(self, self.root)
    }

    /// The key whose node is at `offset` (see [`Key::offset`]): a way to
    /// come back to a key without holding a borrow of the hive.
    pub fn key_at(&self, offset: u32) -> Result<Key<'_>> {
        Key::at(self, offset)
    }

    /// The key at a `\`-separated path below the root, matched without
    /// regard to case; `None` when some part does not exist.
    pub fn key(&self, path: &str) -> Result<Option<Key<'_>>> {
        self.root()?.descend(path)
    }

    /// When the hive was last written (Windows FILETIME), per its header.
    pub fn last_written(&self) -> u64 {
        self.last_written
    }

    /// Damage met and skipped so far; the list is emptied.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    pub(crate) fn warn(&self, warning: String) {
        let mut warnings = self.warnings.borrow_mut();
        // A damaged hive can repeat one problem many times; keep the list readable.
        if warnings.len() < 100 {
            warnings.push(warning);
        }
    }

    pub(crate) fn big_data_enabled(&self) -> bool {
        self.minor_version > 3
    }

    /// The data of the cell at `offset` (without its 4-byte size).
    pub(crate) fn cell(&self, offset: u32) -> Result<Vec<u8>> {
        let size = self.cell_size(offset)?;
        self.read(offset, 4, size - 4)
    }

    /// The first `len` bytes of a cell's data, for records whose fixed part
    /// is all that is needed before the variable part's length is known.
    pub(crate) fn cell_prefix(&self, offset: u32, len: usize) -> Result<Vec<u8>> {
        let size = self.cell_size(offset)?;
        if len > size - 4 {
            return Err(RegfError::damaged(offset, format!("cell of {size} bytes is too small")));
        }
        self.read(offset, 4, len)
    }

    fn cell_size(&self, offset: u32) -> Result<usize> {
        if offset == u32::MAX || u64::from(offset) + 4 > self.bins_end || !offset.is_multiple_of(8) {
            return Err(RegfError::damaged(offset, "cell offset outside the hive"));
        }
        let raw = self.read(offset, 0, 4)?;
        let size = i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        // Allocated cells have a negative size; a positive one is free space
        // that something still points to: read it anyway, it is all there is.
        let size = size.unsigned_abs() as usize;
        if size < 8 || u64::from(offset) + size as u64 > self.bins_end {
            return Err(RegfError::damaged(
                offset,
                format!("cell size {size} does not fit the hive"),
            ));
        }
        Ok(size)
    }

    fn read(&self, offset: u32, skip: usize, len: usize) -> Result<Vec<u8>> {
        let at = BASE_BLOCK + u64::from(offset) + skip as u64;
        self.source
            .read(at, len)?
            .ok_or_else(|| RegfError::damaged(offset, "cell reaches past the end of the file"))
    }
}
