//! A read-only reader for rpm's SQLite database (`rpmdb.sqlite`), written
//! against SQLite's documented file format because no SQLite library builds
//! for wasm32-wasip2 here.
//!
//! rpm keeps every header in `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`.
//! The reader finds that table's root page in `sqlite_master` (page 1), walks
//! the table b-tree (interior pages 0x05, leaf pages 0x0D), reassembles each
//! row's payload from its overflow chain and takes the `blob` column.
//!
//! rpm runs SQLite in WAL mode. Committed transactions still in `-wal` are
//! applied, the way SQLite recovers a WAL without its `-shm` index: frames
//! are taken in order while their salts and running checksum hold, and only
//! up to the last commit frame. Uncommitted frames are never read; `-shm`
//! and rollback journals are ignored.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::db::{Blob, Entry, EntryError, MAX_BLOB, OpenError, Source};

pub const MAGIC: &[u8] = b"SQLite format 3\0";

const HEADER_SIZE: usize = 100;
const LEAF_TABLE: u8 = 0x0D;
const INTERIOR_TABLE: u8 = 0x05;

const WAL_HEADER_SIZE: u64 = 32;
const WAL_FRAME_HEADER_SIZE: u64 = 24;
const WAL_MAGIC: u32 = 0x377f_0682; // | 1 when checksums are big-endian
const WAL_VERSION: u32 = 3_007_000;

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A SQLite varint at `at`, and the offset after it; `None` if it runs past `b`.
fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *b.get(at + i)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(byte), at + 9));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, at + i + 1));
        }
    }
    unreachable!("the ninth byte always returns")
}

/// Reads pages, preferring committed images from the write-ahead log.
struct Pager<S> {
    db: S,
    wal: Option<S>,
    /// Page number → offset of its newest committed image in the WAL.
    wal_pages: HashMap<u32, u64>,
    page_size: usize,
    usable: usize,
}

impl<S: Source> Pager<S> {
    fn page(&mut self, number: u32) -> Result<Vec<u8>, String> {
        if number == 0 {
            return Err("reference to page 0".into());
        }
        let mut page = vec![0; self.page_size];
        let result = match (self.wal_pages.get(&number), self.wal.as_mut()) {
            (Some(&offset), Some(wal)) => wal.read_exact_at(offset, &mut page),
            _ => {
                let offset = u64::from(number - 1) * self.page_size as u64;
                if offset + self.page_size as u64 > self.db.size() {
                    return Err(format!("page {number} lies beyond the end of the file"));
                }
                self.db.read_exact_at(offset, &mut page)
            }
        };
        result.map_err(|e| format!("page {number}: {e}"))?;
        Ok(page)
    }

    /// An upper bound on any payload: every page of the database, full.
    fn max_payload(&self) -> u64 {
        let pages = self.db.size() / self.page_size as u64 + self.wal_pages.len() as u64;
        (pages * self.usable as u64).min(MAX_BLOB)
    }
}

/// A row of a table b-tree whose payload has not been assembled yet.
struct Cell {
    page: u32,
    rowid: i64,
    payload_len: u64,
    local: Vec<u8>,
    overflow: u32,
}

/// Walks a table b-tree depth-first, one page at a time.
struct TableScan {
    stack: Vec<u32>,
    visited: HashSet<u32>,
    cells: VecDeque<Cell>,
}

impl TableScan {
    fn new(root: u32) -> Self {
        Self {
            stack: vec![root],
            visited: HashSet::new(),
            cells: VecDeque::new(),
        }
    }

    /// The next row as (rowid, payload), or an error about one page or row.
    fn next<S: Source>(&mut self, pager: &mut Pager<S>) -> Option<Result<(i64, Vec<u8>), EntryError>> {
        loop {
            if let Some(cell) = self.cells.pop_front() {
                let (page, rowid) = (cell.page, cell.rowid);
                return Some(
                    assemble(pager, cell)
                        .map(|payload| (rowid, payload))
                        .map_err(|e| EntryError::new(format!("row {rowid} (page {page})"), e)),
                );
            }
            let number = self.stack.pop()?;
            if !self.visited.insert(number) {
                return Some(Err(EntryError::new(
                    format!("page {number}"),
                    "reached twice: the b-tree has a cycle",
                )));
            }
            if let Err(e) = self.visit(pager, number) {
                return Some(Err(EntryError::new(format!("page {number}"), e)));
            }
        }
    }

    fn visit<S: Source>(&mut self, pager: &mut Pager<S>, number: u32) -> Result<(), String> {
        let page = pager.page(number)?;
        let usable = pager.usable;
        let page = &page[..usable];
        let at = if number == 1 { HEADER_SIZE } else { 0 };
        let kind = page[at];
        let cells = be16(page, at + 3);
        let pointers = at + if kind == INTERIOR_TABLE { 12 } else { 8 };
        if pointers + 2 * cells > usable {
            return Err(format!("{cells} cells do not fit the page"));
        }
        let cell_offsets = (0..cells).map(|i| be16(page, pointers + 2 * i));
        match kind {
            INTERIOR_TABLE => {
                // Pushed right to left, so rows come out in rowid order.
                self.stack.push(be32(page, at + 8));
                let children: Vec<u32> = cell_offsets
                    .map(|offset| match page.get(offset..offset + 4) {
                        Some(b) if offset >= pointers => Ok(be32(b, 0)),
                        _ => Err(format!("cell at offset {offset} lies outside the page")),
                    })
                    .collect::<Result<_, _>>()?;
                self.stack.extend(children.into_iter().rev());
                Ok(())
            }
            LEAF_TABLE => {
                for offset in cell_offsets {
                    if offset < pointers {
                        return Err(format!("cell at offset {offset} overlaps the page header"));
                    }
                    let cell = leaf_cell(page, offset, number)?;
                    self.cells.push_back(cell);
                }
                Ok(())
            }
            0x02 | 0x0A => Err("an index b-tree page where a table page belongs".into()),
            other => Err(format!("not a b-tree page (type {other:#04x})")),
        }
    }
}

/// Parses a table leaf cell: payload size, rowid, the part of the payload
/// kept on the page and the first overflow page.
fn leaf_cell(page: &[u8], offset: usize, number: u32) -> Result<Cell, String> {
    let truncated = || format!("cell at offset {offset} runs past the page");
    let (payload_len, at) = varint(page, offset).ok_or_else(truncated)?;
    let (rowid, at) = varint(page, at).ok_or_else(truncated)?;
    // How much stays on the page is fixed by the file format.
    let usable = page.len() as u64;
    let max_local = usable - 35;
    let local = if payload_len <= max_local {
        payload_len
    } else {
        let min_local = (usable - 12) * 32 / 255 - 23;
        let k = min_local + (payload_len - min_local) % (usable - 4);
        if k <= max_local { k } else { min_local }
    } as usize;
    let spills = (local as u64) < payload_len;
    let end = at + local + if spills { 4 } else { 0 };
    if end > page.len() {
        return Err(truncated());
    }
    Ok(Cell {
        page: number,
        rowid: rowid as i64,
        payload_len,
        local: page[at..at + local].to_vec(),
        overflow: if spills { be32(page, at + local) } else { 0 },
    })
}

/// The whole payload of a cell, following its overflow chain.
fn assemble<S: Source>(pager: &mut Pager<S>, cell: Cell) -> Result<Vec<u8>, String> {
    let total = cell.payload_len;
    if total > pager.max_payload() {
        return Err(format!("payload of {total} bytes is larger than the database"));
    }
    let mut payload = cell.local;
    let mut next = cell.overflow;
    // Each overflow page adds at least usable - 4 bytes, so this ends.
    while (payload.len() as u64) < total {
        if next == 0 {
            return Err(format!("overflow chain ends after {} of {total} bytes", payload.len()));
        }
        let page = pager.page(next).map_err(|e| format!("overflow {e}"))?;
        let take = (pager.usable - 4).min((total - payload.len() as u64) as usize);
        payload.extend_from_slice(&page[4..4 + take]);
        next = be32(&page, 0);
    }
    Ok(payload)
}

/// One column of a record, as a range of the payload for blobs and text.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Real,
    Blob(std::ops::Range<usize>),
    Text(std::ops::Range<usize>),
}

/// Splits a record into its columns.
fn record(payload: &[u8]) -> Result<Vec<Value>, String> {
    let bad = || "malformed record header".to_string();
    let (header_len, mut at) = varint(payload, 0).ok_or_else(bad)?;
    let header_len = usize::try_from(header_len).map_err(|_| bad())?;
    if header_len > payload.len() || header_len < at {
        return Err(bad());
    }
    let header = &payload[..header_len];
    let mut body = header_len;
    let mut values = Vec::new();
    while at < header_len {
        let (serial, next) = varint(header, at).ok_or_else(bad)?;
        at = next;
        let size = match serial {
            0 | 8 | 9 => 0,
            1..=4 => serial as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(format!("reserved serial type {serial}")),
            n => usize::try_from((n - 12) / 2).map_err(|_| bad())?,
        };
        let end = body.checked_add(size).filter(|&end| end <= payload.len());
        let end = end.ok_or_else(|| "record body shorter than its header says".to_string())?;
        values.push(match serial {
            0 => Value::Null,
            1..=6 => {
                let bytes = &payload[body..end];
                let sign = if bytes[0] & 0x80 != 0 { -1i64 } else { 0 };
                Value::Int(bytes.iter().fold(sign, |acc, &b| (acc << 8) | i64::from(b)))
            }
            7 => Value::Real,
            8 => Value::Int(0),
            9 => Value::Int(1),
            n if n % 2 == 0 => Value::Blob(body..end),
            _ => Value::Text(body..end),
        });
        body = end;
    }
    Ok(values)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

fn text(bytes: &[u8], encoding: Encoding) -> String {
    let units = |be: bool| {
        bytes.chunks_exact(2).map(move |c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
    };
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Utf16Le => char::decode_utf16(units(false))
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect(),
        Encoding::Utf16Be => char::decode_utf16(units(true))
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect(),
    }
}

/// The header blobs of rpm's `Packages` table, read lazily.
pub struct Packages<S> {
    pager: Pager<S>,
    scan: TableScan,
    /// Facts about the file worth a debug line (the WAL, mostly).
    pub notes: Vec<String>,
}

impl<S: Source> Packages<S> {
    /// Opens a database file and, if there is one, its write-ahead log.
    pub fn open(mut db: S, wal: Option<S>) -> Result<Self, OpenError> {
        if db.size() < HEADER_SIZE as u64 {
            return Err(OpenError::Corrupt("SQLite file shorter than its header".into()));
        }
        let mut header = [0u8; HEADER_SIZE];
        db.read_exact_at(0, &mut header)?;
        if !header.starts_with(MAGIC) {
            return Err(OpenError::Corrupt("not a SQLite database".into()));
        }
        let page_size = match be16(&header, 16) {
            1 => 65536,
            n => n,
        };
        if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
            return Err(OpenError::Corrupt(format!("invalid page size {page_size}")));
        }
        let usable = page_size - usize::from(header[20]);
        if usable < 480 {
            return Err(OpenError::Corrupt(format!("{} reserved bytes per page", header[20])));
        }

        let mut notes = Vec::new();
        let mut wal_pages = HashMap::new();
        let wal = match wal {
            Some(mut wal) => match read_wal(&mut wal, page_size) {
                Ok((pages, frames)) => {
                    if frames > 0 {
                        notes.push(format!("write-ahead log: {frames} committed frames read"));
                    }
                    wal_pages = pages;
                    Some(wal)
                }
                Err(why) => {
                    notes.push(format!("write-ahead log ignored: {why}"));
                    None
                }
            },
            None => None,
        };
        let mut pager = Pager {
            db,
            wal,
            wal_pages,
            page_size,
            usable,
        };
        // Page 1 as of the last commit: the file's copy may predate the
        // schema when everything since is still in the log.
        let first = pager.page(1).map_err(OpenError::Corrupt)?;
        let encoding = match be32(&first, 56) {
            2 => Encoding::Utf16Le,
            3 => Encoding::Utf16Be,
            _ => Encoding::Utf8,
        };
        let root = find_table(&mut pager, "Packages", encoding)?;
        Ok(Self {
            pager,
            scan: TableScan::new(root),
            notes,
        })
    }
}

/// The root page of a table, from the schema table on page 1.
fn find_table<S: Source>(pager: &mut Pager<S>, name: &str, encoding: Encoding) -> Result<u32, OpenError> {
    let mut schema = TableScan::new(1);
    while let Some(row) = schema.next(pager) {
        let (_, payload) = row.map_err(|e| OpenError::Corrupt(format!("schema {e}")))?;
        let columns = record(&payload).map_err(|e| OpenError::Corrupt(format!("schema row: {e}")))?;
        let column_text = |i: usize| match columns.get(i) {
            Some(Value::Text(r)) => text(&payload[r.clone()], encoding),
            _ => String::new(),
        };
        if column_text(0) == "table" && column_text(1).eq_ignore_ascii_case(name) {
            return match columns.get(3) {
                Some(&Value::Int(root)) if root > 0 && root <= i64::from(u32::MAX) => Ok(root as u32),
                _ => Err(OpenError::Corrupt(format!("table {name} has no valid root page"))),
            };
        }
    }
    Err(OpenError::Corrupt(format!("no {name} table: not an rpm database")))
}

impl<S: Source> Iterator for Packages<S> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let row = self.scan.next(&mut self.pager)?;
        Some(row.and_then(|(rowid, mut payload)| {
            let location = || format!("row {rowid}");
            let columns = record(&payload).map_err(|e| EntryError::new(location(), e))?;
            match columns.get(1) {
                Some(Value::Blob(range)) => {
                    payload.truncate(range.end);
                    payload.drain(..range.start);
                    Ok(Blob {
                        key: rowid as u64,
                        data: payload,
                    })
                }
                other => Err(EntryError::new(
                    location(),
                    format!("blob column holds {}", describe(other)),
                )),
            }
        }))
    }
}

fn describe(value: Option<&Value>) -> &'static str {
    match value {
        None => "nothing (missing column)",
        Some(Value::Null) => "NULL",
        Some(Value::Int(_)) => "an integer",
        Some(Value::Real) => "a real number",
        Some(Value::Text(_)) => "text",
        Some(Value::Blob(_)) => "a blob",
    }
}

/// The WAL's running checksum over `data` (a multiple of 8 bytes).
fn wal_checksum(big_endian: bool, data: &[u8], (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

/// Finds the committed page images in a write-ahead log. Returns them with
/// the number of frames they came from; a log that does not belong to this
/// database, or is damaged from its header on, is an error (and ignored).
fn read_wal<S: Source>(wal: &mut S, page_size: usize) -> Result<(HashMap<u32, u64>, usize), String> {
    let mut committed = HashMap::new();
    if wal.size() < WAL_HEADER_SIZE {
        return Ok((committed, 0)); // empty: nothing written since the last checkpoint
    }
    let mut header = [0u8; WAL_HEADER_SIZE as usize];
    wal.read_exact_at(0, &mut header).map_err(|e| e.to_string())?;
    let magic = be32(&header, 0);
    if magic & !1 != WAL_MAGIC {
        return Err("bad magic".into());
    }
    let big_endian = magic & 1 == 1;
    if be32(&header, 4) != WAL_VERSION {
        return Err(format!("unknown version {}", be32(&header, 4)));
    }
    if be32(&header, 8) as usize != page_size {
        return Err("page size differs from the database's".into());
    }
    let mut sum = wal_checksum(big_endian, &header[..24], (0, 0));
    if sum != (be32(&header, 24), be32(&header, 28)) {
        return Err("header checksum mismatch".into());
    }
    let salts = &header[16..24];

    let frame_size = WAL_FRAME_HEADER_SIZE + page_size as u64;
    let mut frame = vec![0u8; frame_size as usize];
    let mut pending: HashMap<u32, u64> = HashMap::new();
    let (mut frames, mut frames_committed) = (0, 0);
    let mut offset = WAL_HEADER_SIZE;
    while offset + frame_size <= wal.size() {
        wal.read_exact_at(offset, &mut frame).map_err(|e| e.to_string())?;
        let (page, commit_size) = (be32(&frame, 0), be32(&frame, 4));
        if page == 0 || &frame[8..16] != salts {
            break; // a frame left over from before the log was restarted
        }
        sum = wal_checksum(big_endian, &frame[..8], sum);
        sum = wal_checksum(big_endian, &frame[24..], sum);
        if sum != (be32(&frame, 16), be32(&frame, 20)) {
            break; // torn write: nothing from here on was committed
        }
        frames += 1;
        pending.insert(page, offset + WAL_FRAME_HEADER_SIZE);
        if commit_size != 0 {
            committed.extend(pending.drain());
            frames_committed = frames;
        }
        offset += frame_size;
    }
    Ok((committed, frames_committed))
}

/// Writes SQLite files for tests: just enough of the format for one table.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub const SCHEMA_SQL: &str = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)";

    pub fn put_varint(out: &mut Vec<u8>, v: u64) {
        if v > 0x00ff_ffff_ffff_ffff {
            let mut bytes = Vec::new();
            bytes.push(v as u8);
            let mut rest = v >> 8;
            for _ in 0..8 {
                bytes.push((rest & 0x7f) as u8 | 0x80);
                rest >>= 7;
            }
            bytes.reverse();
            out.extend(bytes);
            return;
        }
        let mut groups = vec![(v & 0x7f) as u8];
        let mut rest = v >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        groups.reverse();
        out.extend(groups);
    }

    pub enum Col<'a> {
        Null,
        Int(i64),
        Text(&'a str),
        Blob(&'a [u8]),
    }

    pub fn encode_record(cols: &[Col]) -> Vec<u8> {
        let mut types = Vec::new();
        let mut body = Vec::new();
        for col in cols {
            match col {
                Col::Null => put_varint(&mut types, 0),
                Col::Int(n) => {
                    put_varint(&mut types, 6);
                    body.extend_from_slice(&n.to_be_bytes());
                }
                Col::Text(s) => {
                    put_varint(&mut types, 13 + 2 * s.len() as u64);
                    body.extend_from_slice(s.as_bytes());
                }
                Col::Blob(b) => {
                    put_varint(&mut types, 12 + 2 * b.len() as u64);
                    body.extend_from_slice(b);
                }
            }
        }
        // The header length counts itself; one byte is enough for small headers.
        let mut out = Vec::new();
        put_varint(&mut out, types.len() as u64 + 1);
        out.extend(types);
        out.extend(body);
        out
    }

    pub struct Writer {
        pub page_size: usize,
        pub reserved: usize,
        pub pages: Vec<Vec<u8>>,
    }

    impl Writer {
        pub fn new(page_size: usize, reserved: usize) -> Self {
            Self {
                page_size,
                reserved,
                pages: Vec::new(),
            }
        }

        fn usable(&self) -> usize {
            self.page_size - self.reserved
        }

        pub fn alloc(&mut self) -> u32 {
            self.pages.push(vec![0; self.page_size]);
            self.pages.len() as u32
        }

        /// A leaf cell, spilling into newly allocated overflow pages as needed.
        pub fn leaf_cell(&mut self, rowid: i64, payload: &[u8]) -> Vec<u8> {
            let u = self.usable() as u64;
            let p = payload.len() as u64;
            let (x, m) = (u - 35, (u - 12) * 32 / 255 - 23);
            let local = if p <= x {
                p
            } else {
                let k = m + (p - m) % (u - 4);
                if k <= x { k } else { m }
            } as usize;
            let mut cell = Vec::new();
            put_varint(&mut cell, p);
            put_varint(&mut cell, rowid as u64);
            cell.extend_from_slice(&payload[..local]);
            if local < payload.len() {
                let chunks: Vec<&[u8]> = payload[local..].chunks(self.usable() - 4).collect();
                let numbers: Vec<u32> = chunks.iter().map(|_| self.alloc()).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let next = numbers.get(i + 1).copied().unwrap_or(0);
                    let page = &mut self.pages[numbers[i] as usize - 1];
                    page[..4].copy_from_slice(&next.to_be_bytes());
                    page[4..4 + chunk.len()].copy_from_slice(chunk);
                }
                cell.extend_from_slice(&numbers[0].to_be_bytes());
            }
            cell
        }

        /// Lays out a b-tree page: header, cell pointers, cells from the end.
        pub fn write_page(&mut self, number: u32, kind: u8, cells: &[Vec<u8>], right: Option<u32>) {
            let usable = self.usable();
            let at = if number == 1 { 100 } else { 0 };
            let page = &mut self.pages[number as usize - 1];
            let mut content = usable;
            let pointers = at + if right.is_some() { 12 } else { 8 };
            for (i, cell) in cells.iter().enumerate() {
                content -= cell.len();
                page[content..content + cell.len()].copy_from_slice(cell);
                page[pointers + 2 * i..pointers + 2 * i + 2].copy_from_slice(&(content as u16).to_be_bytes());
            }
            assert!(pointers + 2 * cells.len() <= content, "page {number} overfull");
            page[at] = kind;
            page[at + 3..at + 5].copy_from_slice(&(cells.len() as u16).to_be_bytes());
            page[at + 5..at + 7].copy_from_slice(&(content as u16).to_be_bytes());
            if let Some(right) = right {
                page[at + 8..at + 12].copy_from_slice(&right.to_be_bytes());
            }
        }

        /// Builds a table from rows and returns its root page. Leaves hold
        /// as many cells as fit; one interior level joins them.
        pub fn table(&mut self, rows: &[(i64, Vec<u8>)]) -> u32 {
            let root = self.alloc();
            let mut leaves: Vec<(u32, i64)> = Vec::new();
            let mut cells: Vec<Vec<u8>> = Vec::new();
            let mut used = 8;
            let mut last_rowid = 0;
            let flush = |w: &mut Self, cells: &mut Vec<Vec<u8>>, last: i64, leaves: &mut Vec<(u32, i64)>| {
                let page = w.alloc();
                w.write_page(page, LEAF_TABLE, cells, None);
                cells.clear();
                leaves.push((page, last));
            };
            for (rowid, payload) in rows {
                let record = encode_record(&[Col::Null, Col::Blob(payload)]);
                let cell = self.leaf_cell(*rowid, &record);
                if used + cell.len() + 2 > self.usable() {
                    flush(self, &mut cells, last_rowid, &mut leaves);
                    used = 8;
                }
                used += cell.len() + 2;
                cells.push(cell);
                last_rowid = *rowid;
            }
            if leaves.is_empty() {
                self.write_page(root, LEAF_TABLE, &cells, None);
                return root;
            }
            flush(self, &mut cells, last_rowid, &mut leaves);
            let (right, _) = leaves.pop().unwrap();
            let interior: Vec<Vec<u8>> = leaves
                .iter()
                .map(|(page, key)| {
                    let mut cell = page.to_be_bytes().to_vec();
                    put_varint(&mut cell, *key as u64);
                    cell
                })
                .collect();
            self.write_page(root, INTERIOR_TABLE, &interior, Some(right));
            root
        }

        /// A complete rpmdb.sqlite holding `blobs` as rows 1, 2, ...
        pub fn rpmdb(page_size: usize, reserved: usize, blobs: &[Vec<u8>]) -> Vec<u8> {
            let mut w = Self::new(page_size, reserved);
            w.alloc(); // page 1: header and schema
            let rows: Vec<(i64, Vec<u8>)> = blobs
                .iter()
                .enumerate()
                .map(|(i, b)| (i as i64 + 1, b.clone()))
                .collect();
            let root = w.table(&rows);
            let schema = encode_record(&[
                Col::Text("table"),
                Col::Text("Packages"),
                Col::Text("Packages"),
                Col::Int(i64::from(root)),
                Col::Text(SCHEMA_SQL),
            ]);
            let cell = w.leaf_cell(1, &schema);
            w.write_page(1, LEAF_TABLE, &[cell], None);
            w.finish()
        }

        pub fn finish(mut self) -> Vec<u8> {
            let count = self.pages.len() as u32;
            let page_size = self.page_size;
            let reserved = self.reserved as u8;
            let first = &mut self.pages[0];
            first[..16].copy_from_slice(MAGIC);
            let size_field = if page_size == 65536 { 1 } else { page_size as u16 };
            first[16..18].copy_from_slice(&size_field.to_be_bytes());
            first[18] = 1;
            first[19] = 1;
            first[20] = reserved;
            first[21] = 64;
            first[22] = 32;
            first[23] = 32;
            first[24..28].copy_from_slice(&1u32.to_be_bytes()); // change counter
            first[28..32].copy_from_slice(&count.to_be_bytes());
            first[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format
            first[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
            first[92..96].copy_from_slice(&1u32.to_be_bytes()); // version-valid-for
            first[96..100].copy_from_slice(&3_045_001u32.to_be_bytes());
            self.pages.concat()
        }
    }

    /// A write-ahead log over `frames` of (page number, page image, commit?).
    pub fn wal(page_size: usize, big_endian: bool, frames: &[(u32, &[u8], bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(WAL_MAGIC | u32::from(big_endian)).to_be_bytes());
        out.extend_from_slice(&WAL_VERSION.to_be_bytes());
        out.extend_from_slice(&(page_size as u32).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]); // salts
        let mut sum = wal_checksum(big_endian, &out, (0, 0));
        out.extend_from_slice(&sum.0.to_be_bytes());
        out.extend_from_slice(&sum.1.to_be_bytes());
        for (page, image, commit) in frames {
            let mut head = Vec::new();
            head.extend_from_slice(&page.to_be_bytes());
            head.extend_from_slice(&(if *commit { 1000u32 } else { 0 }).to_be_bytes());
            sum = wal_checksum(big_endian, &head, sum);
            sum = wal_checksum(big_endian, image, sum);
            head.extend_from_slice(&out[16..24]);
            head.extend_from_slice(&sum.0.to_be_bytes());
            head.extend_from_slice(&sum.1.to_be_bytes());
            out.extend(head);
            out.extend_from_slice(image);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::header::testing::{blob, rng};

    fn read_all(db: Vec<u8>, wal: Option<Vec<u8>>) -> Result<Vec<Entry>, OpenError> {
        Ok(Packages::open(db, wal)?.collect())
    }

    fn blobs(n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut b = blob(&format!("pkg{i}"));
                b.resize(b.len().max(size + i), 0xAB); // padded: header parsing is not the point here
                b
            })
            .collect()
    }

    fn ok_blobs(entries: Vec<Entry>) -> Vec<Vec<u8>> {
        entries.into_iter().map(|e| e.expect("entry reads").data).collect()
    }

    #[test]
    fn varints_decode() {
        assert_eq!(varint(&[0x05], 0), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
        let mut out = Vec::new();
        for v in [
            0,
            127,
            128,
            300,
            1 << 40,
            u64::MAX,
            0x00ff_ffff_ffff_ffff,
            0x0100_0000_0000_0000,
        ] {
            out.clear();
            put_varint(&mut out, v);
            assert_eq!(varint(&out, 0), Some((v, out.len())), "{v}");
        }
    }

    #[test]
    fn reads_a_single_leaf_table() {
        let want = vec![blob("bash"), blob("zlib")];
        let got = read_all(Writer::rpmdb(4096, 0, &want), None).unwrap();
        let keys: Vec<u64> = got.iter().map(|e| e.as_ref().unwrap().key).collect();
        assert_eq!(keys, [1, 2]);
        assert_eq!(ok_blobs(got), want);
    }

    #[test]
    fn reads_interior_pages_and_overflow_chains() {
        // 512-byte pages: every blob spills over several overflow pages.
        let want = blobs(40, 1500);
        let db = Writer::rpmdb(512, 0, &want);
        assert!(db.len() > 100 * 512);
        assert_eq!(ok_blobs(read_all(db, None).unwrap()), want);
    }

    #[test]
    fn honours_reserved_bytes_and_every_page_size() {
        for page_size in [512, 1024, 4096, 65536] {
            for reserved in [0, 32] {
                let want = blobs(12, 700);
                let db = Writer::rpmdb(page_size, reserved, &want);
                assert_eq!(ok_blobs(read_all(db, None).unwrap()), want, "{page_size}/{reserved}");
            }
        }
    }

    #[test]
    fn payloads_at_the_inline_limit() {
        // Around U - 35, where a payload first spills.
        for size in 440..=520 {
            let want = vec![vec![7u8; size]];
            let db = Writer::rpmdb(512, 0, &want);
            let got = ok_blobs(read_all(db, None).unwrap());
            assert_eq!(got, want, "{size}");
        }
    }

    #[test]
    fn an_empty_table_has_no_entries() {
        assert!(read_all(Writer::rpmdb(4096, 0, &[]), None).unwrap().is_empty());
    }

    #[test]
    fn a_database_without_packages_is_refused() {
        let mut w = Writer::new(1024, 0);
        w.alloc();
        let root = w.table(&[]);
        let schema = encode_record(&[
            Col::Text("table"),
            Col::Text("Other"),
            Col::Text("Other"),
            Col::Int(i64::from(root)),
            Col::Text("CREATE TABLE Other (x)"),
        ]);
        let cell = w.leaf_cell(1, &schema);
        w.write_page(1, LEAF_TABLE, &[cell], None);
        let err = read_all(w.finish(), None).unwrap_err();
        assert!(err.to_string().contains("no Packages table"), "{err}");
    }

    fn page_of(db: &[u8], page_size: usize, number: u32) -> Vec<u8> {
        db[(number as usize - 1) * page_size..number as usize * page_size].to_vec()
    }

    /// Replaces row 1's blob (on the root leaf) with another of the same size.
    fn with_new_first_blob(db: &[u8], page_size: usize, old: &[u8], new: &[u8]) -> Vec<u8> {
        let mut page = page_of(db, page_size, 2);
        let at = page.windows(old.len()).position(|w| w == old).expect("blob on page 2");
        page[at..at + new.len()].copy_from_slice(new);
        page
    }

    #[test]
    fn committed_wal_frames_are_applied_and_others_are_not() {
        let old = vec![1u8; 60];
        let new = vec![2u8; 60];
        let newer = vec![3u8; 60];
        let db = Writer::rpmdb(1024, 0, std::slice::from_ref(&old));
        let page_new = with_new_first_blob(&db, 1024, &old, &new);
        let page_newer = with_new_first_blob(&db, 1024, &old, &newer);
        // The single blob each read finds.
        let read = |log: Vec<u8>| {
            let mut blobs = ok_blobs(read_all(db.clone(), Some(log)).unwrap());
            assert_eq!(blobs.len(), 1);
            blobs.remove(0)
        };
        for big_endian in [false, true] {
            // Committed: applied.
            assert_eq!(read(wal(1024, big_endian, &[(2, &page_new, true)])), new);
            // A later uncommitted frame: ignored.
            let log = wal(1024, big_endian, &[(2, &page_new, true), (2, &page_newer, false)]);
            assert_eq!(read(log), new);
            // Not committed at all.
            assert_eq!(read(wal(1024, big_endian, &[(2, &page_new, false)])), old);
        }
        // A damaged frame ends the log, commit or not.
        let mut log = wal(1024, false, &[(2, &page_new, true), (2, &page_newer, true)]);
        let second_frame = 32 + 24 + 1024;
        log[second_frame + 24 + 500] ^= 1;
        assert_eq!(read(log.clone()), new);
        // A log with a broken header, or for another page size, is ignored.
        log[0] ^= 0xff;
        let reader = Packages::open(db.clone(), Some(log)).unwrap();
        assert!(reader.notes[0].contains("ignored"), "{:?}", reader.notes);
        assert_eq!(ok_blobs(reader.collect()), vec![old.clone()]);
        assert_eq!(read(wal(512, false, &[(2, &page_new[..512], true)])), old);
        // An empty log is fine.
        assert_eq!(read(Vec::new()), old);
    }

    #[test]
    fn a_database_still_entirely_in_its_wal_is_read() {
        let want = blobs(5, 1500);
        let full = Writer::rpmdb(1024, 0, &want);
        // The file holds only an early page 1: no schema, another encoding.
        let mut stale = Writer::rpmdb(1024, 0, &[]);
        stale.truncate(1024);
        stale[56..60].copy_from_slice(&2u32.to_be_bytes());
        let pages: Vec<(u32, &[u8], bool)> = full
            .chunks(1024)
            .enumerate()
            .map(|(i, page)| (i as u32 + 1, page, (i + 1) * 1024 == full.len()))
            .collect();
        let log = wal(1024, false, &pages);
        assert_eq!(ok_blobs(read_all(stale.clone(), Some(log)).unwrap()), want);
        assert!(read_all(stale, None).is_err());
    }

    #[test]
    fn records_decode() {
        let rec = encode_record(&[Col::Null, Col::Int(-2), Col::Text("hi"), Col::Blob(&[1, 2])]);
        let values = record(&rec).unwrap();
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[1], Value::Int(-2));
        assert!(matches!(&values[2], Value::Text(r) if &rec[r.clone()] == b"hi"));
        assert!(matches!(&values[3], Value::Blob(r) if rec[r.clone()] == [1, 2]));
        assert!(record(&rec[..rec.len() - 1]).is_err());
        assert!(record(&[0x05, 0x0a]).is_err());
        assert!(record(&[]).is_err());
    }

    #[test]
    fn utf16_schemas_are_understood() {
        assert_eq!(text(&[b'P', 0, b'k', 0], Encoding::Utf16Le), "Pk");
        assert_eq!(text(&[0, b'P', 0, b'k'], Encoding::Utf16Be), "Pk");
    }

    #[test]
    fn bad_headers_are_clear_errors() {
        let db = Writer::rpmdb(1024, 0, &[blob("a")]);
        let mut bad = db.clone();
        bad[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(read_all(bad, None).unwrap_err().to_string().contains("page size"));
        let mut bad = Writer::rpmdb(512, 0, &[blob("a")]);
        bad[20] = 33; // 479 usable bytes, below SQLite's minimum
        assert!(read_all(bad, None).unwrap_err().to_string().contains("reserved"));
        assert!(read_all(db[..50].to_vec(), None).is_err());
        assert!(read_all(b"not sqlite at all, really not at all".repeat(10), None).is_err());
    }

    #[test]
    fn cycles_and_wrong_page_types_are_entry_errors() {
        let want = blobs(40, 1500);
        let mut db = Writer::rpmdb(512, 0, &want);
        // Point the root's right-most child at the root itself.
        let root = 2 - 1;
        db[root * 512 + 8..root * 512 + 12].copy_from_slice(&2u32.to_be_bytes());
        let entries = read_all(db, None).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| matches!(e, Err(err) if err.reason.contains("cycle")))
        );
        assert!(entries.iter().filter(|e| e.is_ok()).count() < want.len());
    }

    #[test]
    fn truncation_at_every_length_never_panics() {
        let want = blobs(6, 900);
        let db = Writer::rpmdb(512, 0, &want);
        for len in 0..db.len() {
            let cut = db[..len].to_vec();
            if let Ok(entries) = read_all(cut, None) {
                // Whatever reads must be a prefix-consistent subset.
                for blob in entries.into_iter().flatten() {
                    assert!(want.contains(&blob.data));
                }
            }
        }
    }

    #[test]
    fn random_corruption_never_panics() {
        let want = blobs(10, 900);
        let db = Writer::rpmdb(512, 0, &want);
        let mut next = rng(11);
        for _ in 0..3_000 {
            let mut copy = db.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % copy.len();
                copy[at] = next() as u8;
            }
            if let Ok(reader) = Packages::open(copy, None) {
                for _ in reader.take(10_000) {}
            }
        }
        for _ in 0..300 {
            let len = (next() % 5000) as usize;
            let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if junk.len() >= 100 {
                junk[..16].copy_from_slice(MAGIC);
                junk[16..18].copy_from_slice(&512u16.to_be_bytes());
            }
            if let Ok(reader) = Packages::open(junk, None) {
                for _ in reader.take(10_000) {}
            }
        }
    }
}
