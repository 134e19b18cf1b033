//! Values ("vk"): names, types, data (inline, in a cell, or in big-data
//! segments), and one stable text form of the data.

use crate::error::{RegfError, Result};
use crate::hive::{BIG_DATA_MIN, Hive};
use crate::names::{decode_name, utf16le};

/// The name is Latin-1 rather than UTF-16LE.
const VALUE_COMP_NAME: u16 = 0x0001;
/// Set in the size field when the data (4 bytes at most) sits in the offset field.
const DATA_INLINE: u32 = 0x8000_0000;
const VK_FIXED: usize = 0x14;
/// Larger than any value Windows lets one write (about 1 MiB for most, a
/// few MiB in practice): a size above this is damage.
const MAX_DATA: u32 = 64 << 20;

/// A value of a key.
#[derive(Clone, Debug)]
pub struct Value<'h> {
    hive: &'h Hive,
    offset: u32,
    name: String,
    value_type: u32,
    size: u32,
    data_offset: u32,
}

impl<'h> Value<'h> {
    pub(crate) fn at(hive: &'h Hive, offset: u32) -> Result<Value<'h>> {
        let cell = hive.cell(offset)?;
        if cell.len() < VK_FIXED || &cell[..2] != b"vk" {
            return Err(RegfError::damaged(offset, "expected a value (vk)"));
        }
        let u16_at = |at: usize| u16::from_le_bytes([cell[at], cell[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([cell[at], cell[at + 1], cell[at + 2], cell[at + 3]]);
        let name_len = usize::from(u16_at(0x02));
        let name = cell
            .get(VK_FIXED..VK_FIXED + name_len)
            .ok_or_else(|| RegfError::damaged(offset, "value name longer than its cell"))?;
        Ok(Value {
            hive,
            offset,
            name: decode_name(name, u16_at(0x10) & VALUE_COMP_NAME != 0),
            size: u32_at(0x04),
            data_offset: u32_at(0x08),
            value_type: u32_at(0x0c),
        })
    }

    /// The name; `""` for the key's default value.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type number (`REG_SZ` = 1, ...); see [`type_name`].
    pub fn value_type(&self) -> u32 {
        self.value_type
    }

    /// The raw data.
    pub fn data(&self) -> Result<Vec<u8>> {
        if self.size & DATA_INLINE != 0 {
            let len = (self.size & !DATA_INLINE).min(4) as usize;
            return Ok(self.data_offset.to_le_bytes()[..len].to_vec());
        }
        let len = self.size;
        if len == 0 {
            return Ok(Vec::new());
        }
        if len > MAX_DATA {
            return Err(RegfError::damaged(self.offset, format!("value data of {len} bytes")));
        }
        let cell = self.hive.cell(self.data_offset)?;
        if len > BIG_DATA_MIN && self.hive.big_data_enabled() && cell.starts_with(b"db") {
            return self.big_data(&cell, len as usize);
        }
        cell.get(..len as usize)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| RegfError::damaged(self.data_offset, "value data longer than its cell"))
    }

    /// Data split over segments: "db", a segment count, and a list of segment cells.
    fn big_data(&self, db: &[u8], len: usize) -> Result<Vec<u8>> {
        let damaged = |what: &str| RegfError::damaged(self.data_offset, what);
        if db.len() < 8 {
            return Err(damaged("big data record too small"));
        }
        let count = usize::from(u16::from_le_bytes([db[2], db[3]]));
        let list_offset = u32::from_le_bytes([db[4], db[5], db[6], db[7]]);
        let list = self.hive.cell(list_offset)?;
        let entries = list
            .get(..count * 4)
            .ok_or_else(|| damaged("segment list shorter than its count"))?;
        let mut data = Vec::with_capacity(len);
        for entry in entries.chunks_exact(4) {
            if data.len() >= len {
                break;
            }
            let segment = self
                .hive
                .cell(u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]))?;
            let take = (len - data.len()).min(segment.len()).min(BIG_DATA_MIN as usize);
            data.extend_from_slice(&segment[..take]);
        }
        if data.len() < len {
            return Err(damaged("big data segments hold less than the value's size"));
        }
        Ok(data)
    }

    /// The data in its stable text form (see [`render`]).
    pub fn render(&self) -> Result<String> {
        Ok(render(self.value_type, &self.data()?))
    }
}

/// The name of a value type as Windows writes it; unknown types as `0x…`.
pub fn type_name(value_type: u32) -> String {
    let name = match value_type {
        0 => "REG_NONE",
        1 => "REG_SZ",
        2 => "REG_EXPAND_SZ",
        3 => "REG_BINARY",
        4 => "REG_DWORD",
        5 => "REG_DWORD_BIG_ENDIAN",
        6 => "REG_LINK",
        7 => "REG_MULTI_SZ",
        8 => "REG_RESOURCE_LIST",
        9 => "REG_FULL_RESOURCE_DESCRIPTOR",
        10 => "REG_RESOURCE_REQUIREMENTS_LIST",
        11 => "REG_QWORD",
        other => return format!("0x{other:x}"),
    };
    name.to_string()
}

/// Text rendered longer than this is replaced by its length and a digest, so
/// that one huge binary value cannot bloat every record of its history.
pub const MAX_RENDERED: usize = 4096;

/// One stable text form of value data, the same whatever source it came from:
///
/// - strings (`REG_SZ`, `REG_EXPAND_SZ`, `REG_LINK`): the text up to the first NUL;
/// - `REG_MULTI_SZ`: a JSON array of the strings (`["a","b"]`), unambiguous;
/// - `REG_DWORD`, `REG_DWORD_BIG_ENDIAN`, `REG_QWORD`: decimal;
/// - everything else, and numbers of the wrong size: lowercase hex;
/// - anything over [`MAX_RENDERED`] bytes: `<N bytes, fnv64 …>`.
pub fn render(value_type: u32, data: &[u8]) -> String {
    let text = match (value_type, data.len()) {
        (1 | 2 | 6, _) => until_nul(&utf16le(data)).to_string(),
        (7, _) => multi_string(data),
        (4, 4) => u32::from_le_bytes([data[0], data[1], data[2], data[3]]).to_string(),
        (5, 4) => u32::from_be_bytes([data[0], data[1], data[2], data[3]]).to_string(),
        (11, 8) => u64::from_le_bytes(data.try_into().unwrap_or_default()).to_string(),
        _ => hex(data),
    };
    if text.len() > MAX_RENDERED {
        format!("<{} bytes, fnv64 {:016x}>", data.len(), fnv64(data))
    } else {
        text
    }
}

fn until_nul(text: &str) -> &str {
    text.split('\0').next().unwrap_or_default()
}

fn multi_string(data: &[u8]) -> String {
    let text = utf16le(data);
    let mut items: Vec<&str> = text.split('\0').collect();
    // The list ends with an empty string (two NULs); drop that terminator.
    while items.last() == Some(&"") {
        items.pop();
    }
    let quoted: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", quoted.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// FNV-1a, 64 bits: a small stable digest for oversized data (not for security).
fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn types_have_windows_names() {
        assert_eq!(type_name(1), "REG_SZ");
        assert_eq!(type_name(7), "REG_MULTI_SZ");
        assert_eq!(type_name(11), "REG_QWORD");
        assert_eq!(type_name(0x20), "0x20");
    }

    #[test]
    fn data_renders_stably() {
        assert_eq!(render(1, &utf16("C:\\Windows\0junk")), "C:\\Windows");
        assert_eq!(render(2, &utf16("%SystemRoot%\\x\0")), "%SystemRoot%\\x");
        assert_eq!(render(7, &utf16("a\0b \"q\"\0\0")), r#"["a","b \"q\""]"#);
        assert_eq!(render(7, &utf16("\0")), "[]");
        assert_eq!(render(4, &[1, 1, 0, 0]), "257");
        assert_eq!(render(5, &[0, 0, 1, 1]), "257");
        assert_eq!(render(11, &[0, 0, 0, 0, 1, 0, 0, 0]), "4294967296");
        assert_eq!(render(4, &[1, 2]), "0102", "a DWORD of the wrong size shows its bytes");
        assert_eq!(render(3, &[0xde, 0xad]), "dead");
        assert_eq!(render(0, &[]), "");
        let big = render(3, &vec![7; 5000]);
        assert!(big.starts_with("<5000 bytes, fnv64 "), "{big}");
        assert_ne!(big, render(3, &vec![8; 5000]));
    }
}
