//! A reader for rpm's own "ndb" package database (`Packages.db`, SUSE).
//!
//! Layout, all little-endian: a 32-byte header (`RpmP`, version 0,
//! generation, number of slot pages, next package index), then the slot
//! pages (4096 bytes each, the header taking the first two 16-byte slots).
//! A slot (`Slot`, package index, block offset, block count) locates a blob
//! in 16-byte blocks; a slot with block offset 0 is free. A blob is a head
//! (`BlbS`, package index, timestamp, length), the header blob, zero padding
//! and a tail (Adler-32 of everything before it, length, `BlbE`) that ends
//! exactly at the last block.

use crate::db::{Blob, Entry, EntryError, OpenError, Source, adler32};

pub const MAGIC: &[u8] = b"RpmP";
const SLOT_MAGIC: &[u8] = b"Slot";
const BLOB_HEAD_MAGIC: &[u8] = b"BlbS";
const BLOB_TAIL_MAGIC: &[u8] = b"BlbE";

const PAGE_SIZE: u64 = 4096;
const SLOT_SIZE: u64 = 16;
const BLOCK_SIZE: u64 = 16;
const HEADER_SLOTS: u64 = 2;
const BLOB_HEAD: u64 = 16;
const BLOB_TAIL: u64 = 12;
/// Far beyond any real database (256 slots a page), small enough to bound work.
const MAX_SLOT_PAGES: u64 = 1 << 16;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The header blobs of an NDB database, read lazily in slot order.
pub struct Packages<S> {
    src: S,
    slot_pages: u64,
    /// Index of the next slot to look at, counting the header's two.
    next_slot: u64,
    page: Vec<u8>,
    page_number: Option<u64>,
    done: bool,
}

impl<S: Source> Packages<S> {
    pub fn open(mut src: S) -> Result<Self, OpenError> {
        if src.size() < 32 {
            return Err(OpenError::Corrupt("NDB file shorter than its header".into()));
        }
        let mut header = [0u8; 32];
        src.read_exact_at(0, &mut header)?;
        if &header[..4] != MAGIC {
            return Err(OpenError::Corrupt("not an NDB database".into()));
        }
        let version = le32(&header, 4);
        if version != 0 {
            return Err(OpenError::Unsupported(format!("NDB version {version}")));
        }
        let slot_pages = u64::from(le32(&header, 12));
        if slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
            return Err(OpenError::Corrupt(format!("{slot_pages} slot pages")));
        }
        if slot_pages * PAGE_SIZE > src.size() {
            return Err(OpenError::Corrupt(format!(
                "{slot_pages} slot pages do not fit a file of {} bytes",
                src.size()
            )));
        }
        Ok(Self {
            src,
            slot_pages,
            next_slot: HEADER_SLOTS,
            page: vec![0; PAGE_SIZE as usize],
            page_number: None,
            done: false,
        })
    }

    /// The raw 16 bytes of slot `index`, loading its page when needed.
    fn slot(&mut self, index: u64) -> std::io::Result<[u8; 16]> {
        let page = index * SLOT_SIZE / PAGE_SIZE;
        if self.page_number != Some(page) {
            self.page_number = None;
            self.src.read_exact_at(page * PAGE_SIZE, &mut self.page)?;
            self.page_number = Some(page);
        }
        let at = (index * SLOT_SIZE % PAGE_SIZE) as usize;
        Ok(self.page[at..at + 16].try_into().expect("16 bytes"))
    }

    fn blob(&mut self, index: u64, block_offset: u64, blocks: u64) -> Result<Vec<u8>, String> {
        let first_data_block = self.slot_pages * PAGE_SIZE / BLOCK_SIZE;
        if block_offset < first_data_block {
            return Err("blob overlaps the slot pages".into());
        }
        if blocks == 0 || (block_offset + blocks) * BLOCK_SIZE > self.src.size() {
            return Err(format!(
                "blob of {blocks} blocks at block {block_offset} lies beyond the end of the file"
            ));
        }
        let mut head = [0u8; BLOB_HEAD as usize];
        self.src
            .read_exact_at(block_offset * BLOCK_SIZE, &mut head)
            .map_err(|e| e.to_string())?;
        if &head[..4] != BLOB_HEAD_MAGIC {
            return Err("no blob at the slot's offset".into());
        }
        if u64::from(le32(&head, 4)) != index {
            return Err(format!("blob belongs to package {}", le32(&head, 4)));
        }
        let len = u64::from(le32(&head, 12));
        if blocks != (BLOB_HEAD + len + BLOB_TAIL).div_ceil(BLOCK_SIZE) {
            return Err(format!("blob length {len} does not match its {blocks} blocks"));
        }
        let mut whole = self
            .src
            .read_vec(block_offset * BLOCK_SIZE, blocks * BLOCK_SIZE)
            .map_err(|e| e.to_string())?;
        let tail = whole.len() - BLOB_TAIL as usize;
        if &whole[tail + 8..] != BLOB_TAIL_MAGIC || u64::from(le32(&whole, tail + 4)) != len {
            return Err("blob tail is damaged".into());
        }
        if adler32(&whole[..tail]) != le32(&whole, tail) {
            return Err("blob checksum mismatch".into());
        }
        whole.truncate((BLOB_HEAD + len) as usize);
        whole.drain(..BLOB_HEAD as usize);
        Ok(whole)
    }
}

impl<S: Source> Iterator for Packages<S> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let slots = self.slot_pages * PAGE_SIZE / SLOT_SIZE;
        while !self.done && self.next_slot < slots {
            let number = self.next_slot;
            self.next_slot += 1;
            let location = || format!("slot {number}");
            let slot = match self.slot(number) {
                Ok(slot) => slot,
                Err(e) => {
                    self.done = true;
                    return Some(Err(EntryError::new(location(), e.to_string())));
                }
            };
            if &slot[..4] != SLOT_MAGIC {
                // rpm refuses the whole database here: the slot pages are not what they seem.
                self.done = true;
                return Some(Err(EntryError::new(location(), "bad slot magic; slot pages damaged")));
            }
            let (index, block_offset, blocks) = (le32(&slot, 4), le32(&slot, 8), le32(&slot, 12));
            if block_offset == 0 {
                continue; // free
            }
            if index == 0 {
                return Some(Err(EntryError::new(location(), "used slot without a package index")));
            }
            let index = u64::from(index);
            return Some(
                self.blob(index, u64::from(block_offset), u64::from(blocks))
                    .map(|data| Blob { key: index, data })
                    .map_err(|e| EntryError::new(format!("package {index} ({})", location()), e)),
            );
        }
        None
    }
}

/// Builds NDB files for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// An NDB database holding `blobs` as packages 1, 2, ...; `slot_pages`
    /// slot pages, the slots in reverse order to show order does not matter.
    pub fn ndb(blobs: &[Vec<u8>], slot_pages: u32) -> Vec<u8> {
        let mut file = vec![0u8; slot_pages as usize * PAGE_SIZE as usize];
        file[..4].copy_from_slice(MAGIC);
        file[8..12].copy_from_slice(&7u32.to_le_bytes());
        file[12..16].copy_from_slice(&slot_pages.to_le_bytes());
        file[16..20].copy_from_slice(&(blobs.len() as u32 + 1).to_le_bytes());
        for slot in HEADER_SLOTS as usize..file.len() / SLOT_SIZE as usize {
            file[slot * 16..slot * 16 + 4].copy_from_slice(SLOT_MAGIC);
        }
        for (i, data) in blobs.iter().enumerate() {
            let index = i as u32 + 1;
            let block_offset = (file.len() as u64 / BLOCK_SIZE) as u32;
            let blocks = (BLOB_HEAD + data.len() as u64 + BLOB_TAIL).div_ceil(BLOCK_SIZE) as u32;
            let mut blob = Vec::new();
            blob.extend_from_slice(BLOB_HEAD_MAGIC);
            blob.extend_from_slice(&index.to_le_bytes());
            blob.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            blob.extend_from_slice(&(data.len() as u32).to_le_bytes());
            blob.extend_from_slice(data);
            blob.resize(blocks as usize * BLOCK_SIZE as usize - BLOB_TAIL as usize, 0);
            let sum = adler32(&blob);
            blob.extend_from_slice(&sum.to_le_bytes());
            blob.extend_from_slice(&(data.len() as u32).to_le_bytes());
            blob.extend_from_slice(BLOB_TAIL_MAGIC);
            file.extend(blob);
            let slot = (HEADER_SLOTS as usize + blobs.len() - 1 - i) * 16;
            file[slot + 4..slot + 8].copy_from_slice(&index.to_le_bytes());
            file[slot + 8..slot + 12].copy_from_slice(&block_offset.to_le_bytes());
            file[slot + 12..slot + 16].copy_from_slice(&blocks.to_le_bytes());
        }
        file
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ndb;
    use super::*;
    use crate::header::testing::{blob, rng};

    fn read(file: Vec<u8>) -> Result<Vec<Entry>, OpenError> {
        Ok(Packages::open(file)?.collect())
    }

    #[test]
    fn reads_every_used_slot() {
        let want: Vec<Vec<u8>> = ["bash", "glibc", "zypper"].iter().map(|n| blob(n)).collect();
        let entries = read(ndb(&want, 1)).unwrap();
        let mut got: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| e.map(|b| (b.key, b.data)).unwrap())
            .collect();
        got.sort();
        let expected: Vec<(u64, Vec<u8>)> = want
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, b)| (i as u64 + 1, b))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn reads_slots_across_several_pages() {
        let want: Vec<Vec<u8>> = (0..300).map(|i| blob(&format!("p{i}"))).collect();
        let entries = read(ndb(&want, 2)).unwrap();
        assert_eq!(entries.len(), 300);
        assert!(entries.iter().all(Result::is_ok));
    }

    #[test]
    fn an_empty_database_is_empty() {
        assert!(read(ndb(&[], 1)).unwrap().is_empty());
    }

    #[test]
    fn damaged_blobs_are_entry_errors_and_the_rest_still_reads() {
        let want = vec![blob("a"), blob("b")];
        let mut file = ndb(&want, 1);
        // Package 1's blob is the first after the slot page; flip a data byte.
        file[4096 + 40] ^= 0x55;
        let entries = read(file).unwrap();
        let errors: Vec<&EntryError> = entries.iter().filter_map(|e| e.as_ref().err()).collect();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("checksum"), "{errors:?}");
        assert_eq!(entries.iter().filter(|e| e.is_ok()).count(), 1);
    }

    #[test]
    fn bad_slot_magic_stops_the_scan() {
        let mut file = ndb(&[blob("a"), blob("b")], 1);
        file[32..36].copy_from_slice(b"Xlot");
        let entries = read(file).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].as_ref().unwrap_err().reason.contains("slot magic"));
    }

    #[test]
    fn header_problems_are_open_errors() {
        let file = ndb(&[blob("a")], 1);
        let mut bad = file.clone();
        bad[4] = 1;
        assert!(matches!(read(bad), Err(OpenError::Unsupported(_))));
        let mut bad = file.clone();
        bad[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(read(bad), Err(OpenError::Corrupt(_))));
        let mut bad = file.clone();
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(bad), Err(OpenError::Corrupt(_))));
        assert!(read(file[..20].to_vec()).is_err());
        assert!(read(b"RpmX".repeat(20)).is_err());
    }

    #[test]
    fn truncation_and_corruption_never_panic() {
        let want: Vec<Vec<u8>> = (0..5).map(|i| blob(&format!("p{i}"))).collect();
        let file = ndb(&want, 1);
        for len in 0..file.len() {
            if let Ok(entries) = read(file[..len].to_vec()) {
                for b in entries.into_iter().flatten() {
                    assert!(want.contains(&b.data));
                }
            }
        }
        let mut next = rng(3);
        for _ in 0..3_000 {
            let mut copy = file.clone();
            for _ in 0..1 + next() % 8 {
                // Aim at the interesting parts: slots and blob heads.
                let at = if next().is_multiple_of(2) {
                    (next() % 200) as usize
                } else {
                    (next() as usize) % copy.len()
                };
                copy[at] = next() as u8;
            }
            let _ = read(copy);
        }
    }
}
