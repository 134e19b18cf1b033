//! Key nodes ("nk") and the subkey lists that join them ("lf", "lh", "li", "ri").

use crate::error::{RegfError, Result};
use crate::hive::Hive;
use crate::names::{decode_name, eq_ignore_case};
use crate::value::Value;

/// The name is Latin-1 rather than UTF-16LE.
const KEY_COMP_NAME: u16 = 0x0020;
/// Fixed part of a key node, before its name.
const NK_FIXED: usize = 0x4c;
/// More entries than any real list holds: a count above it is damage.
const MAX_LIST: usize = 1 << 20;

/// A key of a hive.
#[derive(Clone)]
pub struct Key<'h> {
    hive: &'h Hive,
    offset: u32,
    name: String,
    last_written: u64,
    subkeys_list: u32,
    subkeys: u32,
    values_list: u32,
    values: u32,
    class: Option<(u32, u16)>,
}

impl std::fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<'h> Key<'h> {
    pub(crate) fn at(hive: &'h Hive, offset: u32) -> Result<Key<'h>> {
        let fixed = hive.cell_prefix(offset, NK_FIXED)?;
        if &fixed[..2] != b"nk" {
            return Err(RegfError::damaged(offset, "expected a key node (nk)"));
        }
        let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
        let flags = u16_at(0x02);
        let name_len = usize::from(u16_at(0x48));
        let cell = hive.cell(offset)?;
        let name_bytes = cell
            .get(NK_FIXED..NK_FIXED + name_len)
            .ok_or_else(|| RegfError::damaged(offset, "key name longer than its cell"))?;
        let class_len = u16_at(0x4a);
        Ok(Key {
            hive,
            offset,
            name: decode_name(name_bytes, flags & KEY_COMP_NAME != 0),
            last_written: u64::from(u32_at(0x04)) | (u64::from(u32_at(0x08)) << 32),
            subkeys: u32_at(0x14),
            subkeys_list: u32_at(0x1c),
            values: u32_at(0x24),
            values_list: u32_at(0x28),
            class: (class_len > 0 && u32_at(0x30) != u32::MAX).then(|| (u32_at(0x30), class_len)),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Last write time, as a Windows FILETIME (100 ns units since 1601).
    pub fn last_written(&self) -> u64 {
        self.last_written
    }

    /// Where the key node is, relative to the first hive bin.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// The key's class name, when it has one (rarely used; some keys hide data there).
    pub fn class_name(&self) -> Option<String> {
        let (offset, len) = self.class?;
        let cell = self.hive.cell(offset).ok()?;
        cell.get(..usize::from(len)).map(|bytes| decode_name(bytes, false))
    }

    /// Its subkeys, in the hive's order. A damaged entry is skipped with a
    /// warning (see [`Hive::take_warnings`]); a damaged list is an error.
    pub fn subkeys(&self) -> Result<Vec<Key<'h>>> {
        if self.subkeys == 0 || self.subkeys_list == u32::MAX {
            return Ok(Vec::new());
        }
        let mut offsets = Vec::new();
        self.list_offsets(self.subkeys_list, 0, &mut offsets)?;
        let mut keys = Vec::with_capacity(offsets.len());
        for offset in offsets {
            match Key::at(self.hive, offset) {
                Ok(key) => keys.push(key),
                Err(e) => self.hive.warn(format!("a subkey of {:?} was skipped: {e}", self.name)),
            }
        }
        Ok(keys)
    }

    /// The direct subkey with this name (case-insensitive).
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'h>>> {
        Ok(self.subkeys()?.into_iter().find(|k| eq_ignore_case(&k.name, name)))
    }

    /// The key at a `\`-separated path below this one (case-insensitive).
    pub fn descend(&self, path: &str) -> Result<Option<Key<'h>>> {
        let mut key = self.clone();
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            match key.subkey(part)? {
                Some(next) => key = next,
                None => return Ok(None),
            }
        }
        Ok(Some(key))
    }

    /// Its values, in the hive's order; damaged ones are skipped with a warning.
    pub fn values(&self) -> Result<Vec<Value<'h>>> {
        if self.values == 0 || self.values_list == u32::MAX {
            return Ok(Vec::new());
        }
        let count = self.values as usize;
        if count > MAX_LIST {
            return Err(RegfError::damaged(self.offset, format!("{count} values")));
        }
        let list = self.hive.cell(self.values_list)?;
        if list.len() < count * 4 {
            return Err(RegfError::damaged(
                self.values_list,
                "value list shorter than its count",
            ));
        }
        let mut values = Vec::with_capacity(count);
        for entry in list[..count * 4].chunks_exact(4) {
            let offset = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            match Value::at(self.hive, offset) {
                Ok(value) => values.push(value),
                Err(e) => self.hive.warn(format!("a value of {:?} was skipped: {e}", self.name)),
            }
        }
        Ok(values)
    }

    /// The value with this name (case-insensitive; `""` is the default value).
    pub fn value(&self, name: &str) -> Result<Option<Value<'h>>> {
        Ok(self.values()?.into_iter().find(|v| eq_ignore_case(v.name(), name)))
    }

    /// Collects the key-node offsets of a subkey list; index roots ("ri")
    /// hold further lists, one level deep.
    fn list_offsets(&self, list: u32, depth: u8, out: &mut Vec<u32>) -> Result<()> {
        let cell = self.hive.cell(list)?;
        if cell.len() < 4 {
            return Err(RegfError::damaged(list, "subkey list too small"));
        }
        let count = usize::from(u16::from_le_bytes([cell[2], cell[3]]));
        let (stride, nested) = match &cell[..2] {
            b"lf" | b"lh" => (8, false),
            b"li" => (4, false),
            b"ri" if depth == 0 => (4, true),
            b"ri" => return Err(RegfError::damaged(list, "index root inside an index root")),
            _ => return Err(RegfError::damaged(list, "expected a subkey list (lf, lh, li or ri)")),
        };
        let entries = cell
            .get(4..4 + count * stride)
            .ok_or_else(|| RegfError::damaged(list, "subkey list shorter than its count"))?;
        if out.len() + count > MAX_LIST {
            return Err(RegfError::damaged(list, "too many subkeys"));
        }
        for entry in entries.chunks_exact(stride) {
            let offset = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            if nested {
                if let Err(e) = self.list_offsets(offset, depth + 1, out) {
                    self.hive
                        .warn(format!("part of the subkeys of {:?} was skipped: {e}", self.name));
                }
            } else {
                out.push(offset);
            }
        }
        Ok(())
    }
}
