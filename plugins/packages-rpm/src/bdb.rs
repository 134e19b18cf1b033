//! A read-only reader for rpm's Berkeley DB `Packages` database.
//!
//! rpm 4 stored headers in a BDB *hash* database (magic 0x061561): page 0
//! is the metadata page, data lives on hash pages as key/value pairs, and
//! values larger than a fraction of a page sit on chains of overflow pages.
//! rpm 5 used a *btree* (magic 0x053162) with the same item formats on its
//! leaf pages, so both are read the same way. The key is rpm's header number
//! (4 bytes); key 0 holds rpm's instance counter, not a header.
//!
//! Pages are scanned in file order rather than through the hash buckets or
//! the btree: every live page is found either way (Berkeley DB marks freed
//! pages invalid), and a damaged page costs only its own items.
//!
//! Integers are in the byte order of the machine that wrote the file; the
//! magic number tells which. Encrypted and checksummed databases, which
//! rpm never creates, are refused.

use std::collections::VecDeque;

use crate::db::{Blob, Entry, EntryError, MAX_BLOB, OpenError, Source};

pub const HASH_MAGIC: u32 = 0x0006_1561;
pub const BTREE_MAGIC: u32 = 0x0005_3162;

const PAGE_HEADER: usize = 26;

// Page types.
const P_HASH_UNSORTED: u8 = 2;
const P_LBTREE: u8 = 5;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_BTREEMETA: u8 = 9;
const P_HASH: u8 = 13;

// Item types, on hash pages and (in the low 7 bits) on btree leaves.
const KEYDATA: u8 = 1;
const DUPLICATE: u8 = 2;
const OFFPAGE: u8 = 3;
const OFFDUP: u8 = 4;
const BTREE_DELETED: u8 = 0x80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hash,
    Btree,
}

#[derive(Debug, Clone, Copy)]
struct Order {
    swapped: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> usize {
        let bytes = [b[at], b[at + 1]];
        usize::from(if self.swapped {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.swapped {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }
}

/// Where a value is: on its page, or on an overflow chain.
enum Value {
    Inline(Vec<u8>),
    Overflow { page: u32, len: u32 },
}

/// The header blobs of a Berkeley DB `Packages` file, read lazily.
pub struct Packages<S> {
    src: S,
    kind: Kind,
    order: Order,
    page_size: usize,
    /// The last page to scan.
    last_page: u32,
    next_page: u32,
    /// Items of the current page still to hand out: (location, key, value).
    pending: VecDeque<(String, u64, Value)>,
    /// Problems found while scanning (or, for a truncated file, at open),
    /// handed out before the items.
    errors: VecDeque<EntryError>,
    pub notes: Vec<String>,
}

impl<S: Source> Packages<S> {
    pub fn open(mut src: S) -> Result<Self, OpenError> {
        if src.size() < 512 {
            return Err(OpenError::Corrupt("Berkeley DB file shorter than one page".into()));
        }
        let mut meta = [0u8; 512];
        src.read_exact_at(0, &mut meta)?;
        let magic = [meta[12], meta[13], meta[14], meta[15]];
        let (kind, swapped) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (HASH_MAGIC, _) => (Kind::Hash, false),
            (_, HASH_MAGIC) => (Kind::Hash, true),
            (BTREE_MAGIC, _) => (Kind::Btree, false),
            (_, BTREE_MAGIC) => (Kind::Btree, true),
            _ => return Err(OpenError::Corrupt("not a Berkeley DB hash or btree database".into())),
        };
        let order = Order { swapped };
        let version = order.u32(&meta, 16);
        let page_size = order.u32(&meta, 20) as usize;
        let mut notes = Vec::new();
        match (kind, version) {
            (Kind::Hash, 8..=10) | (Kind::Btree, 8..=10) => {}
            // Hash version 7 (Berkeley DB 3.2 to 4.0) differs from version 8 in
            // the metadata page (4.1 added encryption and checksum fields);
            // hash and overflow pages are laid out alike.
            (Kind::Hash, 7) => notes.push("Berkeley DB hash version 7, read with the version 8 page layout".into()),
            (Kind::Hash, v) => return Err(OpenError::Unsupported(format!("Berkeley DB hash version {v}"))),
            (Kind::Btree, v) => return Err(OpenError::Unsupported(format!("Berkeley DB btree version {v}"))),
        }
        if kind == Kind::Btree {
            notes.push("Berkeley DB btree: an rpm 5 database, read best-effort".into());
        }
        if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
            return Err(OpenError::Corrupt(format!("invalid page size {page_size}")));
        }
        let meta_type = if kind == Kind::Hash { P_HASHMETA } else { P_BTREEMETA };
        if meta[25] != meta_type {
            return Err(OpenError::Corrupt(format!("metadata page has type {}", meta[25])));
        }
        if meta[24] != 0 {
            return Err(OpenError::Unsupported("encrypted Berkeley DB".into()));
        }
        if meta[26] & 1 != 0 {
            return Err(OpenError::Unsupported("Berkeley DB with page checksums".into()));
        }

        let pages_in_file = src.size() / page_size as u64;
        let file_last = u32::try_from(pages_in_file - 1).unwrap_or(u32::MAX);
        let meta_last = order.u32(&meta, 32);
        let mut errors = VecDeque::new();
        let last_page = if meta_last == 0 {
            file_last // not kept before version 8; every page in the file then
        } else if meta_last > file_last {
            errors.push_back(EntryError::new(
                format!("page {}", file_last + 1),
                format!(
                    "file truncated: the database has {} pages, the file {pages_in_file}",
                    u64::from(meta_last) + 1
                ),
            ));
            file_last
        } else {
            meta_last
        };
        Ok(Self {
            src,
            kind,
            order,
            page_size,
            last_page,
            next_page: 1,
            pending: VecDeque::new(),
            errors,
            notes,
        })
    }

    fn page(&mut self, number: u32) -> Result<Vec<u8>, String> {
        let mut page = vec![0; self.page_size];
        if number == 0 || number > self.last_page {
            return Err(format!("page {number} does not exist"));
        }
        self.src
            .read_exact_at(u64::from(number) * self.page_size as u64, &mut page)
            .map_err(|e| format!("page {number}: {e}"))?;
        Ok(page)
    }

    /// Queues the key/value pairs of one data page; other pages are skipped.
    fn scan_page(&mut self, number: u32) -> Result<(), String> {
        // Most pages are overflow pages, read again with their chain: look
        // at the page type before reading a whole page.
        let mut header = [0u8; PAGE_HEADER];
        self.src
            .read_exact_at(u64::from(number) * self.page_size as u64, &mut header)
            .map_err(|e| e.to_string())?;
        let wanted = match self.kind {
            Kind::Hash => header[25] == P_HASH || header[25] == P_HASH_UNSORTED,
            Kind::Btree => header[25] == P_LBTREE,
        };
        if !wanted {
            return Ok(());
        }
        let page = self.page(number)?;
        let order = self.order;
        if order.u32(&page, 8) != number {
            return Err(format!("page claims to be page {}", order.u32(&page, 8)));
        }
        let entries = order.u16(&page, 20);
        let index_end = PAGE_HEADER + 2 * entries;
        if index_end > self.page_size {
            return Err(format!("{entries} items do not fit the page"));
        }
        let offset = |i: usize| order.u16(&page, PAGE_HEADER + 2 * i);
        for pair in 0..entries / 2 {
            let (k, v) = (2 * pair, 2 * pair + 1);
            let location = format!("page {number}, item {v}");
            let (key, value) = match self.kind {
                Kind::Hash => {
                    let key_end = if k == 0 { self.page_size } else { offset(k - 1) };
                    let (key_at, value_at) = (offset(k), offset(v));
                    if !(index_end <= value_at && value_at < key_at && key_at < key_end && key_end <= self.page_size) {
                        self.pending_error(location, "item offsets out of order");
                        continue;
                    }
                    (
                        hash_item(&page, order, key_at, key_end),
                        hash_item(&page, order, value_at, key_at),
                    )
                }
                Kind::Btree => {
                    let (key_at, value_at) = (offset(k), offset(v));
                    if key_at < index_end || value_at < index_end {
                        self.pending_error(location, "item overlaps the page index");
                        continue;
                    }
                    let deleted = |at: usize| page.get(at + 2).is_some_and(|t| t & BTREE_DELETED != 0);
                    if deleted(key_at) || deleted(value_at) {
                        continue;
                    }
                    (btree_item(&page, order, key_at), btree_item(&page, order, value_at))
                }
            };
            let key = match key {
                Ok(Value::Inline(bytes)) if bytes.len() == 4 => {
                    let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
                    // rpm 4 writes header numbers in the machine's order, rpm 5 big-endian.
                    u64::from(match self.kind {
                        Kind::Hash => order.u32(&bytes, 0),
                        Kind::Btree => u32::from_be_bytes(bytes),
                    })
                }
                Ok(_) => {
                    self.pending_error(location, "key is not a 4-byte header number");
                    continue;
                }
                Err(e) => {
                    self.pending_error(location, format!("key: {e}"));
                    continue;
                }
            };
            if key == 0 {
                continue; // rpm's instance counter
            }
            match value {
                Ok(value) => self.pending.push_back((location, key, value)),
                Err(e) => self.pending_error(location, e),
            }
        }
        Ok(())
    }

    fn pending_error(&mut self, location: String, reason: impl Into<String>) {
        self.errors.push_back(EntryError::new(location, reason));
    }

    /// Reads an overflow chain of `len` bytes starting at `first`.
    fn overflow(&mut self, first: u32, len: u32) -> Result<Vec<u8>, String> {
        let len = len as usize;
        if len as u64 > MAX_BLOB.min(self.src.size()) {
            return Err(format!("overflow item of {len} bytes is larger than the file"));
        }
        // Grown as pages arrive: a damaged length must not reserve memory up front.
        let mut data = Vec::with_capacity(len.min(1 << 20));
        let mut next = first;
        // Every page must add at least one byte, so this ends.
        while data.len() < len {
            if next == 0 {
                return Err(format!("overflow chain ends after {} of {len} bytes", data.len()));
            }
            let page = self.page(next).map_err(|e| format!("overflow {e}"))?;
            if page[25] != P_OVERFLOW || self.order.u32(&page, 8) != next {
                return Err(format!(
                    "overflow chain reaches page {next}, which is not an overflow page"
                ));
            }
            let on_page = self.order.u16(&page, 22);
            if on_page == 0 || PAGE_HEADER + on_page > self.page_size || on_page > len - data.len() {
                return Err(format!("overflow page {next} holds an impossible {on_page} bytes"));
            }
            data.extend_from_slice(&page[PAGE_HEADER..PAGE_HEADER + on_page]);
            next = self.order.u32(&page, 16);
        }
        Ok(data)
    }
}

/// A hash page item occupying `at..end`.
fn hash_item(page: &[u8], order: Order, at: usize, end: usize) -> Result<Value, String> {
    match page[at] {
        KEYDATA => Ok(Value::Inline(page[at + 1..end].to_vec())),
        OFFPAGE if end - at >= 12 => Ok(Value::Overflow {
            page: order.u32(page, at + 4),
            len: order.u32(page, at + 8),
        }),
        DUPLICATE | OFFDUP => Err("duplicate items, which rpm never writes".into()),
        other => Err(format!("unknown hash item type {other}")),
    }
}

/// A btree leaf item at `at`: length, type, then data or an overflow reference.
fn btree_item(page: &[u8], order: Order, at: usize) -> Result<Value, String> {
    let kind = page.get(at + 2).ok_or("item lies outside the page")? & !BTREE_DELETED;
    match kind {
        KEYDATA => {
            let len = order.u16(page, at);
            let data = page.get(at + 3..at + 3 + len).ok_or("item runs past the page")?;
            Ok(Value::Inline(data.to_vec()))
        }
        OFFPAGE if at + 12 <= page.len() => Ok(Value::Overflow {
            page: order.u32(page, at + 4),
            len: order.u32(page, at + 8),
        }),
        DUPLICATE => Err("duplicate items, which rpm never writes".into()),
        other => Err(format!("unknown btree item type {other}")),
    }
}

impl<S: Source> Iterator for Packages<S> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(error) = self.errors.pop_front() {
                return Some(Err(error));
            }
            if let Some((location, key, value)) = self.pending.pop_front() {
                let data = match value {
                    Value::Inline(data) => Ok(data),
                    Value::Overflow { page, len } => self.overflow(page, len),
                };
                return Some(
                    data.map(|data| Blob { key, data })
                        .map_err(|e| EntryError::new(location, e)),
                );
            }
            if self.next_page > self.last_page {
                return None;
            }
            let number = self.next_page;
            self.next_page += 1;
            if let Err(e) = self.scan_page(number) {
                return Some(Err(EntryError::new(format!("page {number}"), e)));
            }
        }
    }
}

/// Builds Berkeley DB files for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub struct Options {
        pub btree: bool,
        pub big_endian: bool,
        pub page_size: usize,
        pub version: u32,
        /// Values up to this size stay on the page.
        pub inline_limit: usize,
    }

    impl Default for Options {
        fn default() -> Self {
            Self {
                btree: false,
                big_endian: false,
                page_size: 512,
                version: 9,
                inline_limit: 100,
            }
        }
    }

    struct Writer<'a> {
        o: &'a Options,
        pages: Vec<Vec<u8>>,
    }

    impl Writer<'_> {
        fn u16(&self, v: usize) -> [u8; 2] {
            let v = v as u16;
            if self.o.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        fn u32(&self, v: u32) -> [u8; 4] {
            if self.o.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        fn new_page(&mut self, kind: u8) -> u32 {
            let number = self.pages.len() as u32;
            let mut page = vec![0u8; self.o.page_size];
            page[8..12].copy_from_slice(&self.u32(number));
            page[25] = kind;
            self.pages.push(page);
            number
        }

        fn overflow(&mut self, data: &[u8]) -> u32 {
            let chunks: Vec<&[u8]> = data.chunks(self.o.page_size - PAGE_HEADER).collect();
            let numbers: Vec<u32> = chunks.iter().map(|_| self.new_page(P_OVERFLOW)).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let prev = if i == 0 { 0 } else { numbers[i - 1] };
                let next = numbers.get(i + 1).copied().unwrap_or(0);
                let (p, n, len) = (self.u32(prev), self.u32(next), self.u16(chunk.len()));
                let page = &mut self.pages[numbers[i] as usize];
                page[12..16].copy_from_slice(&p);
                page[16..20].copy_from_slice(&n);
                page[22..24].copy_from_slice(&len);
                page[PAGE_HEADER..PAGE_HEADER + chunk.len()].copy_from_slice(chunk);
            }
            numbers[0]
        }

        /// One item's bytes, in this database's item format.
        fn item(&mut self, data: &[u8]) -> Vec<u8> {
            let mut item = Vec::new();
            if data.len() > self.o.inline_limit {
                let first = self.overflow(data);
                if self.o.btree {
                    item.extend_from_slice(&[0, 0, OFFPAGE, 0]);
                } else {
                    item.extend_from_slice(&[OFFPAGE, 0, 0, 0]);
                }
                item.extend_from_slice(&self.u32(first));
                item.extend_from_slice(&self.u32(data.len() as u32));
            } else if self.o.btree {
                item.extend_from_slice(&self.u16(data.len()));
                item.push(KEYDATA);
                item.extend_from_slice(data);
                while item.len() % 4 != 0 {
                    item.push(0);
                }
            } else {
                item.push(KEYDATA);
                item.extend_from_slice(data);
            }
            item
        }
    }

    /// A `Packages` database with `blobs` under keys 1, 2, ... (plus rpm's
    /// key 0 counter), several pairs a page.
    pub fn bdb(blobs: &[Vec<u8>], o: &Options) -> Vec<u8> {
        let mut w = Writer { o, pages: Vec::new() };
        let meta = w.new_page(if o.btree { P_BTREEMETA } else { P_HASHMETA });
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![(vec![0; 4], (blobs.len() as u32 + 1).to_le_bytes().to_vec())];
        for (i, blob) in blobs.iter().enumerate() {
            let key = i as u32 + 1;
            let key = if o.btree { key.to_be_bytes() } else { w.u32(key) };
            pairs.push((key.to_vec(), blob.clone()));
        }
        let data_kind = if o.btree { P_LBTREE } else { P_HASH };
        let mut iter = pairs.into_iter().peekable();
        while iter.peek().is_some() {
            // Three pairs per data page; overflow pages interleave, as in real files.
            let chunk: Vec<(Vec<u8>, Vec<u8>)> = iter.by_ref().take(3).collect();
            let items: Vec<Vec<u8>> = chunk.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
            let items: Vec<Vec<u8>> = items.iter().map(|d| w.item(d)).collect();
            let number = w.new_page(data_kind);
            let mut top = o.page_size;
            let mut offsets = Vec::new();
            for item in &items {
                top -= item.len();
                if o.btree {
                    top -= top % 4;
                }
                offsets.push(top);
            }
            let (n_items, free) = (w.u16(items.len()), w.u16(top));
            let offset_bytes: Vec<[u8; 2]> = offsets.iter().map(|&o| w.u16(o)).collect();
            let page = &mut w.pages[number as usize];
            page[20..22].copy_from_slice(&n_items);
            page[22..24].copy_from_slice(&free);
            for (i, item) in items.iter().enumerate() {
                page[offsets[i]..offsets[i] + item.len()].copy_from_slice(item);
                page[PAGE_HEADER + 2 * i..PAGE_HEADER + 2 * i + 2].copy_from_slice(&offset_bytes[i]);
            }
            assert!(PAGE_HEADER + 2 * items.len() <= top, "test page overfull");
        }
        // A freed page, as Berkeley DB leaves them: type 0.
        w.new_page(0);
        let last = w.pages.len() as u32 - 1;
        let magic = if o.btree { BTREE_MAGIC } else { HASH_MAGIC };
        let fields = [
            (12, w.u32(magic)),
            (16, w.u32(o.version)),
            (20, w.u32(o.page_size as u32)),
            (32, w.u32(last)),
        ];
        let page = &mut w.pages[meta as usize];
        for (at, bytes) in fields {
            page[at..at + 4].copy_from_slice(&bytes);
        }
        w.pages.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Options, bdb};
    use super::*;
    use crate::header::testing::{blob, rng};

    fn read(file: Vec<u8>) -> Result<Vec<Entry>, OpenError> {
        Ok(Packages::open(file)?.collect())
    }

    fn sample() -> Vec<Vec<u8>> {
        // Small and large headers: some inline, most on overflow chains.
        let mut blobs: Vec<Vec<u8>> = (0..8).map(|i| blob(&format!("package-{i}"))).collect();
        blobs.push(vec![9; 60]);
        blobs
    }

    fn keyed(entries: Vec<Entry>) -> Vec<(u64, Vec<u8>)> {
        let mut got: Vec<_> = entries
            .into_iter()
            .map(|e| e.map(|b| (b.key, b.data)).unwrap())
            .collect();
        got.sort();
        got
    }

    fn expected(blobs: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
        blobs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, b)| (i as u64 + 1, b))
            .collect()
    }

    #[test]
    fn reads_hash_and_btree_in_both_byte_orders() {
        let blobs = sample();
        for btree in [false, true] {
            for big_endian in [false, true] {
                for page_size in [512, 4096] {
                    let o = Options {
                        btree,
                        big_endian,
                        page_size,
                        version: if btree { 9 } else { 8 },
                        ..Options::default()
                    };
                    let got = keyed(read(bdb(&blobs, &o)).unwrap());
                    assert_eq!(
                        got,
                        expected(&blobs),
                        "btree {btree}, big-endian {big_endian}, {page_size}"
                    );
                }
            }
        }
    }

    #[test]
    fn hash_version_7_is_read_and_noted() {
        let blobs = sample();
        let o = Options {
            version: 7,
            ..Options::default()
        };
        let reader = Packages::open(bdb(&blobs, &o)).unwrap();
        assert!(reader.notes[0].contains("version 7"));
        assert_eq!(keyed(reader.collect()), expected(&blobs));
    }

    #[test]
    fn unsupported_variants_are_clear_errors() {
        let blobs = sample();
        let file = bdb(&blobs, &Options::default());
        let mut old = file.clone();
        old[16..20].copy_from_slice(&5u32.to_le_bytes());
        assert_eq!(
            read(old).unwrap_err().to_string(),
            "unsupported database: Berkeley DB hash version 5"
        );
        let mut encrypted = file.clone();
        encrypted[24] = 1;
        assert!(read(encrypted).unwrap_err().to_string().contains("encrypted"));
        let mut checksummed = file.clone();
        checksummed[26] = 1;
        assert!(read(checksummed).unwrap_err().to_string().contains("checksums"));
        let mut queue = file.clone();
        queue[12..16].copy_from_slice(&0x042253u32.to_le_bytes());
        assert!(
            read(queue)
                .unwrap_err()
                .to_string()
                .contains("not a Berkeley DB hash or btree")
        );
        let mut page_size = file;
        page_size[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read(page_size).unwrap_err().to_string().contains("page size"));
    }

    #[test]
    fn a_truncated_file_reads_what_remains_and_says_so() {
        let blobs = sample();
        let file = bdb(&blobs, &Options::default());
        let cut = file[..file.len() - 2 * 512].to_vec();
        let entries = read(cut).unwrap();
        assert!(entries[0].as_ref().unwrap_err().reason.contains("truncated"));
    }

    #[test]
    fn broken_overflow_chains_are_entry_errors() {
        let blobs = sample();
        let mut file = bdb(&blobs, &Options::default());
        // Page 1 is the first overflow page (key 0's pair is inline): make it claim another number.
        assert_eq!(file[512 + 25], P_OVERFLOW);
        file[512 + 8] = 99;
        let entries = read(file).unwrap();
        let errors: Vec<_> = entries.iter().filter_map(|e| e.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].reason.contains("not an overflow page"));
        assert_eq!(entries.len(), blobs.len());
    }

    #[test]
    fn truncation_and_corruption_never_panic() {
        for btree in [false, true] {
            let o = Options {
                btree,
                ..Options::default()
            };
            let blobs = sample();
            let file = bdb(&blobs, &o);
            for len in 0..file.len() {
                if let Ok(entries) = read(file[..len].to_vec()) {
                    for b in entries.into_iter().flatten() {
                        assert!(blobs.contains(&b.data));
                    }
                }
            }
            let mut next = rng(5);
            for _ in 0..3_000 {
                let mut copy = file.clone();
                for _ in 0..1 + next() % 8 {
                    let at = (next() as usize) % copy.len();
                    copy[at] = next() as u8;
                }
                if let Ok(reader) = Packages::open(copy) {
                    for _ in reader.take(10_000) {}
                }
            }
        }
    }
}
