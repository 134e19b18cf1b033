//! Decoding an rpm header blob, as the database stores it.
//!
//! Layout (all big-endian): the number of index entries `il` and the size of
//! the data store `dl`, then `il` entries of 16 bytes (tag, type, offset into
//! the data store, count), then the data store. The first entry is usually a
//! *region* (tag 63, `HEADERIMMUTABLE`) that marks which entries came from
//! the package file; entries after the region ("dribbles") were added by rpm
//! at install time, and replace region entries with the same tag.
//!
//! The blob comes from a file anyone with write access to the database could
//! have shaped, so every offset and length is checked before use.

use std::fmt;

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_SUMMARY: u32 = 1004;
pub const TAG_INSTALLTIME: u32 = 1008;
pub const TAG_VENDOR: u32 = 1011;
pub const TAG_PACKAGER: u32 = 1015;
pub const TAG_ARCH: u32 = 1022;

/// Region tags: HEADERIMAGE, HEADERSIGNATURES, HEADERIMMUTABLE.
const REGION_TAGS: [u32; 3] = [61, 62, 63];

pub const TYPE_INT32: u32 = 4;
pub const TYPE_STRING: u32 = 6;
pub const TYPE_BIN: u32 = 7;
pub const TYPE_STRING_ARRAY: u32 = 8;
pub const TYPE_I18NSTRING: u32 = 9;
const TYPE_MAX: u32 = 9;

/// rpm's own limits (`hdrchkTags`, `hdrchkData`).
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

const WANTED: [u32; 9] = [
    TAG_NAME,
    TAG_VERSION,
    TAG_RELEASE,
    TAG_EPOCH,
    TAG_SUMMARY,
    TAG_INSTALLTIME,
    TAG_VENDOR,
    TAG_PACKAGER,
    TAG_ARCH,
];

/// The fields of one installed package that driftwatch records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: Option<String>,
    pub arch: Option<String>,
    pub summary: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    /// Seconds since the Unix epoch.
    pub install_time: Option<u32>,
}

impl RpmHeader {
    /// `[epoch:]version[-release]`, the way `rpm -q` spells it.
    pub fn evr(&self) -> String {
        let mut evr = match self.epoch {
            Some(epoch) => format!("{epoch}:{}", self.version),
            None => self.version.clone(),
        };
        if let Some(release) = &self.release {
            evr.push('-');
            evr.push_str(release);
        }
        evr
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad rpm header: {}", self.0)
    }
}

impl std::error::Error for HeaderError {}

fn bad(reason: impl Into<String>) -> HeaderError {
    HeaderError(reason.into())
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: i32,
    count: u32,
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decodes the tags driftwatch needs from a header blob.
pub fn parse(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    if blob.len() < 8 {
        return Err(bad(format!("{} bytes, too short for a header", blob.len())));
    }
    let il = be32(blob, 0);
    let dl = be32(blob, 4);
    if il == 0 || il > MAX_ENTRIES {
        return Err(bad(format!("{il} index entries")));
    }
    if dl > MAX_DATA {
        return Err(bad(format!("data store of {dl} bytes")));
    }
    let data_start = 8 + il as usize * 16;
    let expected = data_start + dl as usize;
    if blob.len() != expected {
        return Err(bad(format!(
            "{} bytes, but {il} entries and {dl} bytes of data make {expected}",
            blob.len()
        )));
    }
    let data = &blob[data_start..];
    let entries: Vec<IndexEntry> = (0..il as usize)
        .map(|i| {
            let at = 8 + i * 16;
            IndexEntry {
                tag: be32(blob, at),
                kind: be32(blob, at + 4),
                offset: be32(blob, at + 8) as i32,
                count: be32(blob, at + 12),
            }
        })
        .collect();

    for (i, e) in entries.iter().enumerate() {
        if e.kind > TYPE_MAX {
            return Err(bad(format!("entry {i} (tag {}) has unknown type {}", e.tag, e.kind)));
        }
        if e.offset < 0 || e.offset as u32 > dl {
            return Err(bad(format!("entry {i} (tag {}) points outside the data", e.tag)));
        }
    }
    if REGION_TAGS.contains(&entries[0].tag) {
        check_region(&entries[0], data, il)?;
    }

    // Later entries win: dribbles follow the region and replace its values.
    let mut found: [Option<IndexEntry>; WANTED.len()] = [None; WANTED.len()];
    for e in &entries {
        if let Some(slot) = WANTED.iter().position(|&t| t == e.tag) {
            found[slot] = Some(*e);
        }
    }
    let get = |tag: u32| found[WANTED.iter().position(|&t| t == tag).unwrap_or_default()];
    let string = |tag: u32| get(tag).map(|e| string_value(e, data)).transpose();
    let int32 = |tag: u32| get(tag).map(|e| int32_value(e, data)).transpose();

    let name = string(TAG_NAME)?.ok_or_else(|| bad("no NAME tag"))?;
    if name.trim().is_empty() {
        return Err(bad("empty NAME"));
    }
    let version = string(TAG_VERSION)?.ok_or_else(|| bad(format!("package {name} has no VERSION tag")))?;
    Ok(RpmHeader {
        epoch: int32(TAG_EPOCH)?,
        version,
        release: string(TAG_RELEASE)?,
        arch: string(TAG_ARCH)?,
        summary: string(TAG_SUMMARY)?,
        vendor: string(TAG_VENDOR)?,
        packager: string(TAG_PACKAGER)?,
        install_time: int32(TAG_INSTALLTIME)?,
        name,
    })
}

/// The region entry points at a 16-byte trailer in the data store whose
/// negative offset says how many index entries the region spans.
fn check_region(region: &IndexEntry, data: &[u8], il: u32) -> Result<(), HeaderError> {
    let at = region.offset as usize;
    if region.kind != TYPE_BIN || region.count != 16 || at + 16 > data.len() {
        return Err(bad(format!("malformed region entry (tag {})", region.tag)));
    }
    let trailer_tag = be32(data, at);
    let trailer_kind = be32(data, at + 4);
    let trailer_offset = be32(data, at + 8) as i32;
    let spans = trailer_offset
        .checked_neg()
        .filter(|n| *n > 0 && n % 16 == 0)
        .map(|n| n / 16);
    match spans {
        Some(n) if REGION_TAGS.contains(&trailer_tag) && trailer_kind == TYPE_BIN && n as u32 <= il => Ok(()),
        _ => Err(bad(format!("malformed region trailer (tag {})", region.tag))),
    }
}

fn string_value(e: IndexEntry, data: &[u8]) -> Result<String, HeaderError> {
    if !matches!(e.kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
        return Err(bad(format!("tag {} has type {}, not a string", e.tag, e.kind)));
    }
    if e.count == 0 {
        return Err(bad(format!("tag {} has no values", e.tag)));
    }
    // Arrays and translated strings: the first value (the untranslated one).
    let rest = &data[e.offset as usize..];
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad(format!("tag {} string runs past the data", e.tag)))?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn int32_value(e: IndexEntry, data: &[u8]) -> Result<u32, HeaderError> {
    let at = e.offset as usize;
    if e.kind != TYPE_INT32 || e.count == 0 {
        return Err(bad(format!("tag {} has type {}, not a 32-bit integer", e.tag, e.kind)));
    }
    if !at.is_multiple_of(4) || at + 4 > data.len() {
        return Err(bad(format!("tag {} integer is misplaced", e.tag)));
    }
    Ok(be32(data, at))
}

/// Assembles header blobs for tests, the way rpm lays them out.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    enum Value {
        Str(u32, String),
        Int(u32, u32),
        Raw {
            tag: u32,
            kind: u32,
            count: u32,
            bytes: Vec<u8>,
        },
    }

    #[derive(Default)]
    pub struct Builder {
        region: Vec<Value>,
        dribbles: Vec<Value>,
        no_region: bool,
    }

    impl Builder {
        pub fn new() -> Self {
            Self::default()
        }

        /// A typical installed package.
        pub fn package(name: &str, version: &str, release: &str, arch: &str) -> Self {
            Self::new()
                .string(TAG_NAME, name)
                .string(TAG_VERSION, version)
                .string(TAG_RELEASE, release)
                .i18n(TAG_SUMMARY, &format!("The {name} package"))
                .string(TAG_ARCH, arch)
                .string(TAG_VENDOR, "Example Corp")
                .dribble_int(TAG_INSTALLTIME, 1_700_000_000)
        }

        pub fn string(mut self, tag: u32, value: &str) -> Self {
            self.region.push(Value::Str(tag, value.into()));
            self
        }

        pub fn i18n(mut self, tag: u32, value: &str) -> Self {
            let mut bytes = value.as_bytes().to_vec();
            bytes.extend_from_slice(b"\0ignored translation\0");
            self.region.push(Value::Raw {
                tag,
                kind: TYPE_I18NSTRING,
                count: 2,
                bytes,
            });
            self
        }

        pub fn int(mut self, tag: u32, value: u32) -> Self {
            self.region.push(Value::Int(tag, value));
            self
        }

        pub fn raw(mut self, tag: u32, kind: u32, count: u32, bytes: &[u8]) -> Self {
            self.region.push(Value::Raw {
                tag,
                kind,
                count,
                bytes: bytes.to_vec(),
            });
            self
        }

        pub fn dribble_string(mut self, tag: u32, value: &str) -> Self {
            self.dribbles.push(Value::Str(tag, value.into()));
            self
        }

        pub fn dribble_int(mut self, tag: u32, value: u32) -> Self {
            self.dribbles.push(Value::Int(tag, value));
            self
        }

        pub fn without_region(mut self) -> Self {
            self.no_region = true;
            self
        }

        pub fn build(self) -> Vec<u8> {
            let mut index: Vec<[u32; 4]> = Vec::new();
            let mut data: Vec<u8> = Vec::new();
            let region = !self.no_region;
            let ril = self.region.len() as u32 + 1;
            if region {
                index.push([63, TYPE_BIN, 0, 16]); // offset patched below
            }
            let push = |v: &Value, index: &mut Vec<[u32; 4]>, data: &mut Vec<u8>| match v {
                Value::Str(tag, s) => {
                    index.push([*tag, TYPE_STRING, data.len() as u32, 1]);
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                Value::Int(tag, n) => {
                    while !data.len().is_multiple_of(4) {
                        data.push(0);
                    }
                    index.push([*tag, TYPE_INT32, data.len() as u32, 1]);
                    data.extend_from_slice(&n.to_be_bytes());
                }
                Value::Raw {
                    tag,
                    kind,
                    count,
                    bytes,
                } => {
                    index.push([*tag, *kind, data.len() as u32, *count]);
                    data.extend_from_slice(bytes);
                }
            };
            for v in &self.region {
                push(v, &mut index, &mut data);
            }
            if region {
                index[0][2] = data.len() as u32;
                for word in [63u32, TYPE_BIN, (-(ril as i32 * 16)) as u32, 16] {
                    data.extend_from_slice(&word.to_be_bytes());
                }
            }
            for v in &self.dribbles {
                push(v, &mut index, &mut data);
            }
            let mut blob = Vec::new();
            blob.extend_from_slice(&(index.len() as u32).to_be_bytes());
            blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
            for entry in &index {
                for word in entry {
                    blob.extend_from_slice(&word.to_be_bytes());
                }
            }
            blob.extend_from_slice(&data);
            blob
        }
    }

    /// A small package blob: `name-1.0-1.x86_64`.
    pub fn blob(name: &str) -> Vec<u8> {
        Builder::package(name, "1.0", "1", "x86_64").build()
    }

    /// A tiny deterministic generator (xorshift), so failures reproduce.
    pub fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Builder;
    use super::*;

    #[test]
    fn decodes_a_typical_header() {
        let blob = Builder::package("bash", "5.2.15", "1.amzn2023.0.2", "x86_64")
            .string(TAG_PACKAGER, "Amazon Linux")
            .build();
        let h = parse(&blob).unwrap();
        assert_eq!(h.name, "bash");
        assert_eq!(h.version, "5.2.15");
        assert_eq!(h.release.as_deref(), Some("1.amzn2023.0.2"));
        assert_eq!(h.arch.as_deref(), Some("x86_64"));
        assert_eq!(h.summary.as_deref(), Some("The bash package"));
        assert_eq!(h.vendor.as_deref(), Some("Example Corp"));
        assert_eq!(h.packager.as_deref(), Some("Amazon Linux"));
        assert_eq!(h.install_time, Some(1_700_000_000));
        assert_eq!(h.epoch, None);
        assert_eq!(h.evr(), "5.2.15-1.amzn2023.0.2");
    }

    #[test]
    fn epoch_is_shown_only_when_present() {
        let blob = Builder::package("gmp", "6.2.1", "2", "x86_64")
            .int(TAG_EPOCH, 1)
            .build();
        assert_eq!(parse(&blob).unwrap().evr(), "1:6.2.1-2");
        let blob = Builder::package("zero", "1", "2", "noarch").int(TAG_EPOCH, 0).build();
        assert_eq!(parse(&blob).unwrap().evr(), "0:1-2");
    }

    #[test]
    fn gpg_pubkeys_have_no_arch() {
        let blob = Builder::new()
            .string(TAG_NAME, "gpg-pubkey")
            .string(TAG_VERSION, "d832c631")
            .string(TAG_RELEASE, "63977702")
            .build();
        let h = parse(&blob).unwrap();
        assert_eq!((h.arch.as_deref(), h.evr().as_str()), (None, "d832c631-63977702"));
    }

    #[test]
    fn dribble_entries_replace_region_entries() {
        let blob = Builder::package("a", "1", "1", "x86_64")
            .dribble_string(TAG_VENDOR, "Replaced")
            .build();
        assert_eq!(parse(&blob).unwrap().vendor.as_deref(), Some("Replaced"));
    }

    #[test]
    fn headers_without_a_region_are_read() {
        let blob = Builder::package("old", "1", "1", "i386").without_region().build();
        assert_eq!(parse(&blob).unwrap().name, "old");
    }

    #[test]
    fn missing_or_empty_names_are_errors() {
        let blob = Builder::new().string(TAG_VERSION, "1").build();
        assert_eq!(parse(&blob).unwrap_err().0, "no NAME tag");
        let blob = Builder::new().string(TAG_NAME, " ").string(TAG_VERSION, "1").build();
        assert_eq!(parse(&blob).unwrap_err().0, "empty NAME");
        let blob = Builder::new().string(TAG_NAME, "x").build();
        assert!(parse(&blob).unwrap_err().0.contains("no VERSION"));
    }

    #[test]
    fn wrong_types_and_unterminated_strings_are_errors() {
        let blob = Builder::new()
            .raw(TAG_NAME, TYPE_INT32, 1, &[0, 0, 0, 1])
            .string(TAG_VERSION, "1")
            .build();
        assert!(parse(&blob).unwrap_err().0.contains("not a string"));
        let blob = Builder::new()
            .string(TAG_NAME, "x")
            .string(TAG_VERSION, "1")
            .raw(TAG_EPOCH, TYPE_STRING, 1, b"1\0")
            .build();
        assert!(parse(&blob).unwrap_err().0.contains("not a 32-bit integer"));
        // The NAME string is the last thing in a region-less header, without its NUL.
        let mut blob = Builder::new()
            .string(TAG_VERSION, "1")
            .string(TAG_NAME, "x")
            .without_region()
            .build();
        *blob.last_mut().unwrap() = b'y';
        assert!(parse(&blob).unwrap_err().0.contains("runs past"));
    }

    #[test]
    fn misaligned_integers_are_errors() {
        let blob = Builder::new()
            .string(TAG_NAME, "xy")
            .string(TAG_VERSION, "1")
            .raw(TAG_EPOCH, TYPE_INT32, 1, &[0, 0, 0, 1])
            .build();
        assert!(parse(&blob).unwrap_err().0.contains("misplaced"));
    }

    #[test]
    fn inconsistent_sizes_are_errors() {
        let blob = testing::blob("p");
        assert!(parse(&blob[..blob.len() - 1]).is_err());
        let mut longer = blob.clone();
        longer.push(0);
        assert!(parse(&longer).is_err());
        assert!(
            parse(&[0, 0, 0, 0, 0, 0, 0, 0])
                .unwrap_err()
                .0
                .contains("0 index entries")
        );
        assert!(parse(&[0xff; 8]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn broken_regions_are_errors() {
        let mut blob = testing::blob("p");
        // The region entry's type (entry 0, second word).
        blob[8 + 7] = 6;
        assert!(parse(&blob).unwrap_err().0.contains("region entry"));
        let mut blob = testing::blob("p");
        let il = be32(&blob, 0) as usize;
        let trailer = 8 + il * 16 + be32(&blob, 16) as usize;
        blob[trailer + 8..trailer + 12].copy_from_slice(&(-(16 * 1000i32)).to_be_bytes());
        assert!(parse(&blob).unwrap_err().0.contains("region trailer"));
    }

    #[test]
    fn every_truncation_and_corruption_fails_cleanly() {
        let blob = Builder::package("coreutils", "8.32", "3.2.1", "x86_64")
            .int(TAG_EPOCH, 3)
            .build();
        for len in 0..blob.len() {
            assert!(parse(&blob[..len]).is_err(), "truncated to {len}");
        }
        let mut rng = testing::rng(7);
        for _ in 0..20_000 {
            let mut copy = blob.clone();
            for _ in 0..1 + rng() % 4 {
                let at = (rng() as usize) % copy.len();
                copy[at] = rng() as u8;
            }
            let _ = parse(&copy);
        }
        for _ in 0..2_000 {
            let len = (rng() % 300) as usize;
            let junk: Vec<u8> = (0..len).map(|_| rng() as u8).collect();
            let _ = parse(&junk);
        }
    }
}
