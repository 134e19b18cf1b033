//! Where a hive's bytes come from: memory, or a file read page by page.
//!
//! A big SOFTWARE hive is hundreds of megabytes, and a collector usually
//! needs a few keys of it: pages are read when first touched and kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

const PAGE: u64 = 64 << 10;

pub(crate) enum Source {
    Memory(Vec<u8>),
    File(PagedFile),
}

pub(crate) struct PagedFile {
    file: RefCell<File>,
    len: u64,
    pages: RefCell<HashMap<u64, Box<[u8]>>>,
}

impl PagedFile {
    pub fn new(file: File) -> std::io::Result<PagedFile> {
        let len = file.metadata()?.len();
        Ok(PagedFile {
            file: RefCell::new(file),
            len,
            pages: RefCell::new(HashMap::new()),
        })
    }

    fn copy_from_page(&self, page: u64, within: usize, out: &mut [u8]) -> std::io::Result<()> {
        let mut pages = self.pages.borrow_mut();
        let bytes = match pages.entry(page) {
            Entry::Occupied(cached) => cached.into_mut(),
            Entry::Vacant(slot) => {
                let start = page * PAGE;
                let mut buffer = vec![0; PAGE.min(self.len - start) as usize];
                let mut file = self.file.borrow_mut();
                file.seek(SeekFrom::Start(start))?;
                file.read_exact(&mut buffer)?;
                slot.insert(buffer.into_boxed_slice())
            }
        };
        out.copy_from_slice(&bytes[within..within + out.len()]);
        Ok(())
    }
}

impl Source {
    pub fn len(&self) -> u64 {
        match self {
            Source::Memory(bytes) => bytes.len() as u64,
            Source::File(file) => file.len,
        }
    }

    /// `len` bytes at `offset`; `None` when they lie (partly) past the end.
    pub fn read(&self, offset: u64, len: usize) -> std::io::Result<Option<Vec<u8>>> {
        let Some(end) = offset.checked_add(len as u64).filter(|end| *end <= self.len()) else {
            return Ok(None);
        };
        match self {
            Source::Memory(bytes) => Ok(Some(bytes[offset as usize..end as usize].to_vec())),
            Source::File(file) => {
                let mut out = vec![0; len];
                let mut done = 0;
                while done < len {
                    let at = offset + done as u64;
                    let (page, within) = (at / PAGE, (at % PAGE) as usize);
                    let n = (PAGE as usize - within).min(len - done);
                    file.copy_from_page(page, within, &mut out[done..done + n])?;
                    done += n;
                }
                Ok(Some(out))
            }
        }
    }
}
