//! What the three database readers share: random access to the file, the
//! errors they report, and telling the formats apart by their magic.
//!
//! The readers never load a whole database: an rpm database can be hundreds
//! of megabytes and the sandbox has a memory cap, so they read pages on
//! demand and hand out one header blob at a time.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::{bdb, ndb, sqlite};

/// Largest header blob accepted from any container. rpm itself refuses
/// headers whose data exceeds 256 MiB; the sandbox could not hold one anyway.
pub const MAX_BLOB: u64 = 256 << 20;

/// Random read access to a database file.
pub trait Source {
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; reading past the end is an error.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// `len` bytes from `offset`, after checking they lie within the file,
    /// so that a corrupt length never turns into a huge allocation.
    fn read_vec(&mut self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if offset.checked_add(len).is_none_or(|end| end > self.size()) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{len} bytes at offset {offset} lie beyond the end of the file ({} bytes)",
                    self.size()
                ),
            ));
        }
        let mut buf = vec![0; len as usize];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }
}

impl Source for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_exact_at(offset, buf)
    }
}

impl Source for &[u8] {
    fn size(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(buf.len()).and_then(|end| self.get(start..end)) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the data",
            )),
        }
    }
}

/// A database file on disk; its length is taken once, at open.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        // Seek + read rather than `FileExt::read_at`, which WASI does not offer on stable.
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }
}

/// Why a database could not be read at all.
#[derive(Debug)]
pub enum OpenError {
    Io(io::Error),
    /// None of the three formats.
    UnknownFormat,
    /// Recognised, but a variant this reader does not handle.
    Unsupported(String),
    /// Recognised, but its structure is damaged.
    Corrupt(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "read error: {e}"),
            Self::UnknownFormat => f.write_str("not an rpm database (neither SQLite, NDB nor Berkeley DB)"),
            Self::Unsupported(what) => write!(f, "unsupported database: {what}"),
            Self::Corrupt(what) => write!(f, "damaged database: {what}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// One record that could not be read; the rest of the database still is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// Where, in the container's terms: `row 12`, `page 40`, `slot 7`.
    pub location: String,
    pub reason: String,
}

impl EntryError {
    pub fn new(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

/// A header blob and the key the container stores it under (rpm's header
/// number: the SQLite rowid, the NDB package index, the Berkeley DB key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub key: u64,
    pub data: Vec<u8>,
}

pub type Entry = Result<Blob, EntryError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sqlite,
    Ndb,
    BdbHash,
    BdbBtree,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Ndb => "NDB",
            Self::BdbHash => "Berkeley DB hash",
            Self::BdbBtree => "Berkeley DB btree",
        }
    }

    /// Recognises a format from the first bytes of a file (at least 16).
    pub fn detect(head: &[u8]) -> Option<Self> {
        if head.starts_with(sqlite::MAGIC) {
            return Some(Self::Sqlite);
        }
        if head.starts_with(ndb::MAGIC) {
            return Some(Self::Ndb);
        }
        let magic: [u8; 4] = head.get(12..16)?.try_into().ok()?;
        match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (bdb::HASH_MAGIC, _) | (_, bdb::HASH_MAGIC) => Some(Self::BdbHash),
            (bdb::BTREE_MAGIC, _) | (_, bdb::BTREE_MAGIC) => Some(Self::BdbBtree),
            _ => None,
        }
    }
}

/// An open database: its format, notes worth a debug line, and its records.
pub struct Database {
    pub format: Format,
    pub notes: Vec<String>,
    pub entries: Box<dyn Iterator<Item = Entry>>,
}

/// Opens the database at `path`, whichever of the formats it is. A SQLite
/// database's write-ahead log (`path-wal`) is read when present.
pub fn open(path: &Path) -> Result<Database, OpenError> {
    let mut source = FileSource::open(path)?;
    let mut head = [0u8; 16];
    if source.size() < head.len() as u64 {
        return Err(OpenError::UnknownFormat);
    }
    source.read_exact_at(0, &mut head)?;
    let format = Format::detect(&head).ok_or(OpenError::UnknownFormat)?;
    let (notes, entries): (Vec<String>, Box<dyn Iterator<Item = Entry>>) = match format {
        Format::Sqlite => {
            let mut wal_path = path.as_os_str().to_owned();
            wal_path.push("-wal");
            let wal = match FileSource::open(Path::new(&wal_path)) {
                Ok(wal) => Some(wal),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(OpenError::Io(e)),
            };
            let reader = sqlite::Packages::open(source, wal)?;
            (reader.notes.clone(), Box::new(reader))
        }
        Format::Ndb => (Vec::new(), Box::new(ndb::Packages::open(source)?)),
        Format::BdbHash | Format::BdbBtree => {
            let reader = bdb::Packages::open(source)?;
            (reader.notes.clone(), Box::new(reader))
        }
    };
    Ok(Database { format, notes, entries })
}

/// The file names rpm gives its database, by backend.
pub const FILE_NAMES: [&str; 3] = ["rpmdb.sqlite", "Packages.db", "Packages"];

/// Finds the database among `dirs`. When several files are there (left
/// behind by a backend conversion, or one directory a link to the other),
/// the most recently modified is the one rpm writes to; ties go to the
/// newer backend. Returns the choice and the candidates passed over.
pub fn find(dirs: &[&Path]) -> Option<(std::path::PathBuf, Vec<std::path::PathBuf>)> {
    let mut candidates: Vec<(std::time::SystemTime, usize, std::path::PathBuf)> = Vec::new();
    for dir in dirs {
        for (rank, name) in FILE_NAMES.iter().enumerate() {
            let path = dir.join(name);
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.is_file()
            {
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                candidates.push((modified, rank, path));
            }
        }
    }
    // Newest first; among equals, the lower rank (newer backend) first.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut paths = candidates.into_iter().map(|(_, _, path)| path);
    let chosen = paths.next()?;
    Some((chosen, paths.collect()))
}

/// Adler-32 (RFC 1950), as NDB uses for its blob checksums.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the longest run before the sums can overflow u32.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_the_rfc_example() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
        let long = vec![0xffu8; 100_000];
        // Reference value computed with zlib.
        assert_eq!(adler32(&long), 0x149a_302c);
    }

    #[test]
    fn slices_read_within_bounds_only() {
        let data = [1u8, 2, 3, 4];
        let mut src: &[u8] = &data;
        let mut buf = [0u8; 2];
        src.read_exact_at(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert!(src.read_exact_at(3, &mut buf).is_err());
        assert!(src.read_exact_at(u64::MAX, &mut buf).is_err());
        assert!(src.read_vec(1, u64::MAX).is_err());
        assert_eq!(src.read_vec(1, 3).unwrap(), [2, 3, 4]);
    }

    #[test]
    fn find_prefers_the_newest_file_then_the_newest_backend() {
        let base = std::env::temp_dir().join(format!("rpm-find-{}", std::process::id()));
        let (a, b) = (base.join("var"), base.join("usr"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert!(find(&[&a, &b]).is_none());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let touch = |path: &Path, when: std::time::SystemTime| {
            std::fs::write(path, b"x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        touch(&a.join("Packages"), old);
        assert_eq!(find(&[&a, &b]).unwrap().0, a.join("Packages"));
        let now = std::time::SystemTime::now();
        touch(&b.join("Packages.db"), now);
        let (chosen, others) = find(&[&a, &b]).unwrap();
        assert_eq!((chosen, others), (b.join("Packages.db"), vec![a.join("Packages")]));
        touch(&b.join("rpmdb.sqlite"), now);
        assert_eq!(find(&[&a, &b]).unwrap().0, b.join("rpmdb.sqlite"));
        std::fs::create_dir(a.join("rpmdb.sqlite")).unwrap(); // not a file: ignored
        assert_eq!(find(&[&a, &b]).unwrap().1.len(), 2);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn open_reads_each_format_from_disk() {
        use crate::header::testing::blob;
        let dir = std::env::temp_dir().join(format!("rpm-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let blobs = vec![blob("a"), blob("b"), blob("c")];
        let count = |path: &Path| -> (Format, usize) {
            let database = open(path).unwrap();
            (database.format, database.entries.filter(Result::is_ok).count())
        };

        let sqlite_path = dir.join("rpmdb.sqlite");
        std::fs::write(&sqlite_path, sqlite::testing::Writer::rpmdb(1024, 0, &blobs)).unwrap();
        assert_eq!(count(&sqlite_path), (Format::Sqlite, 3));
        // The log beside it is found and read: here it replaces everything
        // with a one-package database.
        let one = sqlite::testing::Writer::rpmdb(1024, 0, &blobs[..1]);
        let frames: Vec<(u32, &[u8], bool)> = one
            .chunks(1024)
            .enumerate()
            .map(|(i, page)| (i as u32 + 1, page, (i + 1) * 1024 == one.len()))
            .collect();
        std::fs::write(dir.join("rpmdb.sqlite-wal"), sqlite::testing::wal(1024, false, &frames)).unwrap();
        assert_eq!(count(&sqlite_path), (Format::Sqlite, 1));

        let ndb_path = dir.join("Packages.db");
        std::fs::write(&ndb_path, ndb::testing::ndb(&blobs, 1)).unwrap();
        assert_eq!(count(&ndb_path), (Format::Ndb, 3));

        let bdb_path = dir.join("Packages");
        std::fs::write(&bdb_path, bdb::testing::bdb(&blobs, &Default::default())).unwrap();
        assert_eq!(count(&bdb_path), (Format::BdbHash, 3));

        let other = dir.join("other");
        std::fs::write(&other, b"just some text, long enough to look at").unwrap();
        assert!(matches!(open(&other), Err(OpenError::UnknownFormat)));
        std::fs::write(&other, b"tiny").unwrap();
        assert!(matches!(open(&other), Err(OpenError::UnknownFormat)));
        assert!(matches!(open(&dir.join("missing")), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn formats_are_told_apart_by_magic() {
        assert_eq!(Format::detect(b"SQLite format 3\0"), Some(Format::Sqlite));
        assert_eq!(Format::detect(b"RpmP\0\0\0\0\0\0\0\0\0\0\0\0"), Some(Format::Ndb));
        let mut bdb = [0u8; 16];
        bdb[12..].copy_from_slice(&0x061561u32.to_le_bytes());
        assert_eq!(Format::detect(&bdb), Some(Format::BdbHash));
        bdb[12..].copy_from_slice(&0x061561u32.to_be_bytes());
        assert_eq!(Format::detect(&bdb), Some(Format::BdbHash));
        bdb[12..].copy_from_slice(&0x053162u32.to_be_bytes());
        assert_eq!(Format::detect(&bdb), Some(Format::BdbBtree));
        assert_eq!(Format::detect(&[0u8; 16]), None);
        assert_eq!(Format::detect(b"short"), None);
    }
}
