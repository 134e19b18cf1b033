//! Turning a stat into the contract's `entry`, the stat key that tells an
//! unchanged file, and hashing.

use std::io::Read;
use std::time::SystemTime;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::stat::{Kind, Stat};
use crate::runtime::bindings::fs::{DigestAlgorithm, Entry, EntryType};
use crate::runtime::bindings::types::Timestamp;

pub fn entry_from(guest: String, stat: &Stat, link_target: Option<String>) -> Entry {
    Entry {
        path: guest,
        entry_type: match stat.kind {
            Kind::File => EntryType::File,
            Kind::Dir => EntryType::Directory,
            Kind::Symlink => EntryType::Symlink,
            Kind::Other => EntryType::Other,
        },
        size: stat.size,
        mode: stat.mode,
        uid: stat.uid,
        gid: stat.gid,
        created: stat.created,
        modified: stat.modified,
        changed: stat.changed,
        inode: stat.inode,
        link_target,
        digest: None,
        error: None,
    }
}

/// An entry for a path that was listed but vanished or could not be stat'ed.
pub fn error_entry(guest: &str, e: &std::io::Error) -> Entry {
    Entry {
        path: guest.to_string(),
        entry_type: EntryType::Other,
        size: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        created: None,
        modified: None,
        changed: None,
        inode: 0,
        link_target: None,
        digest: None,
        error: Some(format!("vanished or unreadable: {e}")),
    }
}

/// A hash of everything a change to a file moves: size, times (ctime moves
/// on any write or attribute change), inode, device, mode, owner; and a link's
/// target. Equal keys mean the file need not be read again.
pub fn stat_key(stat: &Stat, link_target: Option<&str>) -> i64 {
    let mut hasher = Fnv::default();
    let time = |t: Option<Timestamp>| t.map_or((0, 0), |t| (t.seconds, i64::from(t.nanoseconds)));
    let (mtime, mnanos) = time(stat.modified);
    let (ctime, cnanos) = time(stat.changed.or(stat.created));
    for n in [
        stat.size as i64,
        mtime,
        mnanos,
        ctime,
        cnanos,
        stat.inode as i64,
        stat.device as i64,
    ] {
        hasher.write(&n.to_le_bytes());
    }
    for n in [stat.mode, stat.uid, stat.gid] {
        hasher.write(&n.to_le_bytes());
    }
    hasher.write(link_target.unwrap_or_default().as_bytes());
    hasher.0 as i64
}

/// FNV-1a, 64 bits: tiny, fast, and the same in every process (a stored key
/// must match the next run's).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub fn timestamp(time: SystemTime) -> Option<Timestamp> {
    let (seconds, nanoseconds) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).ok()?, after.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let secs = -i64::try_from(d.as_secs()).ok()?;
            match d.subsec_nanos() {
                0 => (secs, 0),
                n => (secs - 1, 1_000_000_000 - n),
            }
        }
    };
    Some(Timestamp { seconds, nanoseconds })
}

/// Hashes an open file in one pass, as lowercase hex.
pub fn digest(file: std::fs::File, algorithm: DigestAlgorithm) -> std::io::Result<String> {
    digest_sized(file, algorithm, u64::MAX)
}

/// Hashes an open file whose stat said `size` bytes: a read that comes
/// short with exactly that many in is the end (no further read to find
/// it); anything else — a file that grew, a size of 0 as `/proc` reports
/// — is read to its end.
pub fn digest_sized(mut file: std::fs::File, algorithm: DigestAlgorithm, size: u64) -> std::io::Result<String> {
    // One read buffer per hashing thread: allocating it per file costs more
    // than hashing a small file.
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
    }
    BUFFER.with_borrow_mut(|buffer| match algorithm {
        DigestAlgorithm::Md5 => Ok(finish(feed(&mut file, buffer, Md5::new(), size)?)),
        DigestAlgorithm::Sha256 => Ok(finish(feed(&mut file, buffer, Sha256::new(), size)?)),
    })
}

/// Feeds a file to a hasher until its end: a read of nothing, or a short
/// read that brings the total to exactly `size` (`u64::MAX` when the size
/// is not known).
pub(super) fn feed<D: Digest>(
    file: &mut std::fs::File,
    buffer: &mut [u8],
    mut hasher: D,
    size: u64,
) -> std::io::Result<D> {
    let mut total = 0u64;
    loop {
        match file.read(buffer) {
            Ok(0) => return Ok(hasher),
            Ok(n) => {
                hasher.update(&buffer[..n]);
                total += n as u64;
                if n < buffer.len() && total == size {
                    return Ok(hasher);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The digest as lowercase hex.
pub(super) fn finish<D: Digest>(hasher: D) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
}
