//! A small, read-only reader of Windows registry hive files ("regf").
//!
//! Hives are untrusted input: every offset and length is checked, damage in
//! a part that was asked for is an error, damage in a part that was skipped
//! is a warning ([`Hive::take_warnings`]), and nothing panics. Files are read
//! page by page as keys are visited, so a collector that needs a few keys of
//! a large hive reads little of it.
//!
//! ```no_run
//! let hive = regf::Hive::open(std::path::Path::new("SYSTEM"))?;
//! if let Some(select) = hive.key("Select")? {
//!     for value in select.values()? {
//!         println!("{} = {}", value.name(), value.render()?);
//!     }
//! }
//! # Ok::<(), regf::RegfError>(())
//! ```
//!
//! The format: a 4 KiB base block, then hive bins holding cells. Keys are
//! "nk" cells that point to subkey lists ("lf", "lh", "li", or an "ri" of
//! those) and to a list of "vk" value cells; data of 4 bytes or less sits in
//! the value cell itself, larger data in its own cell, and data over 16,344
//! bytes (format 1.4 and later) in "db" segments.

mod error;
mod hive;
mod key;
mod names;
mod source;
mod value;
#[cfg(feature = "writer")]
pub mod writer;

pub use error::{RegfError, Result};
pub use hive::Hive;
pub use key::Key;
pub use names::{eq_ignore_case, utf16le};
pub use value::{MAX_RENDERED, Value, render, type_name};

/// A Windows FILETIME (100 ns units since 1601-01-01) as Unix seconds and
/// nanoseconds; `None` for zero, which means "never".
pub fn filetime_to_unix(filetime: u64) -> Option<(i64, u32)> {
    const EPOCH_DIFFERENCE_SECONDS: i64 = 11_644_473_600;
    (filetime != 0).then(|| {
        (
            (filetime / 10_000_000) as i64 - EPOCH_DIFFERENCE_SECONDS,
            (filetime % 10_000_000) as u32 * 100,
        )
    })
}

#[cfg(test)]
mod tests;
