//! Stat and open relative to an open directory. On Linux this is `statx` and
//! `openat` on the directory's descriptor, which spares the kernel a walk of
//! the whole path for every file (a large share of a big tree's scan);
//! elsewhere it falls back to std's path-based calls.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::runtime::bindings::types::Timestamp;

/// An open directory, and its path (for messages and fallbacks).
pub struct Dir {
    pub path: PathBuf,
    #[cfg(target_os = "linux")]
    fd: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What a stat says about a path.
#[derive(Debug, Clone)]
pub struct Stat {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub inode: u64,
    pub device: u64,
    pub modified: Option<Timestamp>,
    pub changed: Option<Timestamp>,
    pub created: Option<Timestamp>,
}

impl Dir {
    pub fn open(path: &Path) -> std::io::Result<Dir> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let fd = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(path)?;
            Ok(Dir {
                path: path.to_path_buf(),
                fd,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            std::fs::read_dir(path)?;
            Ok(Dir {
                path: path.to_path_buf(),
            })
        }
    }

    /// Names in the directory with the type the listing reports, sorted.
    pub fn list(&self) -> std::io::Result<Vec<(OsString, Option<std::fs::FileType>)>> {
        let mut names: Vec<_> = std::fs::read_dir(&self.path)?
            .flatten()
            .map(|e| (e.file_name(), e.file_type().ok()))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names)
    }

    /// Stats `name` in this directory; `follow` follows a final symlink.
    pub fn stat(&self, name: &OsStr, follow: bool) -> std::io::Result<Stat> {
        #[cfg(target_os = "linux")]
        {
            statx(&self.fd, name, follow)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let path = self.path.join(name);
            let meta = if follow {
                std::fs::metadata(&path)?
            } else {
                std::fs::symlink_metadata(&path)?
            };
            Ok(Stat::from_metadata(&meta))
        }
    }

    /// Opens `name` for reading; without `follow`, a symlink is refused.
    pub fn open_file(&self, name: &OsStr, follow: bool) -> std::io::Result<File> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::{AsRawFd, FromRawFd};
            let name = c_name(name)?;
            let mut flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
            if !follow {
                flags |= libc::O_NOFOLLOW;
            }
            // SAFETY: a valid directory descriptor and a NUL-terminated name.
            let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: openat returned a new descriptor that nothing else owns.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = follow;
            File::open(self.path.join(name))
        }
    }

    pub fn read_link(&self, name: &OsStr) -> std::io::Result<PathBuf> {
        std::fs::read_link(self.path.join(name))
    }

    /// Opens a subdirectory.
    pub fn child(&self, name: &OsStr) -> std::io::Result<Dir> {
        Dir::open(&self.path.join(name))
    }
}

impl Stat {
    pub fn from_metadata(meta: &std::fs::Metadata) -> Stat {
        let file_type = meta.file_type();
        let kind = if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        #[cfg(unix)]
        let (mode, uid, gid, inode, device, changed) = {
            use std::os::unix::fs::MetadataExt;
            let changed = u32::try_from(meta.ctime_nsec()).ok().map(|nanoseconds| Timestamp {
                seconds: meta.ctime(),
                nanoseconds,
            });
            (meta.mode(), meta.uid(), meta.gid(), meta.ino(), meta.dev(), changed)
        };
        // Windows has no modes: its file attribute flags travel in their place.
        #[cfg(windows)]
        let (mode, uid, gid, inode, device, changed) = {
            use std::os::windows::fs::MetadataExt;
            (meta.file_attributes(), 0, 0, 0, 0, None)
        };
        #[cfg(not(any(unix, windows)))]
        let (mode, uid, gid, inode, device, changed) = (0, 0, 0, 0, 0, None);
        Stat {
            kind,
            size: meta.len(),
            mode,
            uid,
            gid,
            inode,
            device,
            modified: meta.modified().ok().and_then(super::timestamp),
            changed,
            created: meta.created().ok().and_then(super::timestamp),
        }
    }
}

#[cfg(target_os = "linux")]
fn c_name(name: &OsStr) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

#[cfg(target_os = "linux")]
fn statx(dir: &File, name: &OsStr, follow: bool) -> std::io::Result<Stat> {
    use std::os::fd::AsRawFd;
    let name = c_name(name)?;
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
    // SAFETY: statx fills the zeroed struct; it stays valid whatever is returned.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid directory descriptor, a NUL-terminated name, a writable buffer.
    if unsafe { libc::statx(dir.as_raw_fd(), name.as_ptr(), flags, mask, &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let kind = match u32::from(buf.stx_mode) & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    };
    let time = |t: libc::statx_timestamp| Timestamp {
        seconds: t.tv_sec,
        nanoseconds: t.tv_nsec,
    };
    Ok(Stat {
        kind,
        size: buf.stx_size,
        mode: u32::from(buf.stx_mode),
        uid: buf.stx_uid,
        gid: buf.stx_gid,
        inode: buf.stx_ino,
        device: libc::makedev(buf.stx_dev_major, buf.stx_dev_minor),
        modified: Some(time(buf.stx_mtime)),
        changed: Some(time(buf.stx_ctime)),
        created: (buf.stx_mask & libc::STATX_BTIME != 0).then(|| time(buf.stx_btime)),
    })
}
