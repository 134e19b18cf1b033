//! File names that are not UTF-8, kept exactly.
//!
//! A file name is bytes (on Windows, UTF-16 units, which Rust carries as
//! WTF-8 bytes); the plugin contract speaks strings. Names that are UTF-8
//! travel as they are. Any other byte is written as U+FFFD followed by its
//! two hex digits, and a U+FFFD the name really holds is doubled, so that no
//! two names share a string: `bad\xffname` becomes `bad\u{FFFD}ffname`.
//! Plugins pass such strings on untouched; the host turns them back into
//! the exact bytes to open files, and stores them as bytes (a BLOB) where the
//! name is not text. People see them escaped, as `ls -b` shows them:
//! `bad\xffname`.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

const MARK: char = '\u{FFFD}';
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The string a plugin gets for a file name or path.
pub fn to_guest(name: &OsStr) -> Cow<'_, str> {
    encode(name.as_encoded_bytes())
}

/// The string for raw bytes (as `to_guest` makes it).
pub fn encode(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) if !text.contains(MARK) => Cow::Borrowed(text),
        _ => {
            let mut out = String::with_capacity(raw.len() + 8);
            for chunk in raw.utf8_chunks() {
                for c in chunk.valid().chars() {
                    out.push(c);
                    if c == MARK {
                        out.push(MARK);
                    }
                }
                for byte in chunk.invalid() {
                    out.push(MARK);
                    out.push(HEX[usize::from(byte >> 4)] as char);
                    out.push(HEX[usize::from(byte & 0xf)] as char);
                }
            }
            Cow::Owned(out)
        }
    }
}

/// The bytes a string from `encode` stands for. A string that `encode`
/// could not have made (a plugin's own text with a U+FFFD in it) stands for
/// itself.
pub fn decode(text: &str) -> Cow<'_, [u8]> {
    if !text.contains(MARK) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut raw = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != MARK {
            let mut buffer = [0u8; 4];
            raw.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        if chars.next_if_eq(&MARK).is_some() {
            raw.extend_from_slice("\u{FFFD}".as_bytes());
            continue;
        }
        let digits: String = chars.by_ref().take(2).collect();
        match u8::from_str_radix(&digits, 16) {
            Ok(byte) if digits.len() == 2 && digits.bytes().all(|d| d.is_ascii_digit() || d.is_ascii_lowercase()) => {
                raw.push(byte)
            }
            _ => return Cow::Borrowed(text.as_bytes()),
        }
    }
    if encode(&raw) == text {
        Cow::Owned(raw)
    } else {
        Cow::Borrowed(text.as_bytes())
    }
}

/// The name on this system that a plugin's path string stands for; `None`
/// when no name can be that (on Windows, bytes that are not WTF-8).
pub fn to_host(guest: &str) -> Option<Cow<'_, OsStr>> {
    match decode(guest) {
        Cow::Borrowed(_) => Some(Cow::Borrowed(OsStr::new(guest))),
        Cow::Owned(raw) => os_string(raw).map(Cow::Owned),
    }
}

#[cfg(unix)]
fn os_string(raw: Vec<u8>) -> Option<OsString> {
    use std::os::unix::ffi::OsStringExt;
    Some(OsString::from_vec(raw))
}

#[cfg(not(unix))]
fn os_string(raw: Vec<u8>) -> Option<OsString> {
    match String::from_utf8(raw) {
        Ok(text) => Some(OsString::from(text)),
        Err(error) if is_wtf8(error.as_bytes()) => {
            // SAFETY: the bytes were checked to be well-formed WTF-8, the
            // encoding `OsStr::as_encoded_bytes` gives on this system.
            Some(unsafe { OsString::from_encoded_bytes_unchecked(error.into_bytes()) })
        }
        Err(_) => None,
    }
}

/// Well-formed WTF-8: UTF-8 in which lone surrogates may appear (as
/// three-byte sequences), but never a surrogate pair written that way.
#[cfg_attr(unix, allow(dead_code))]
fn is_wtf8(raw: &[u8]) -> bool {
    let mut i = 0;
    let mut after_lead_surrogate = false;
    while i < raw.len() {
        let byte = raw[i];
        if byte < 0x80 {
            after_lead_surrogate = false;
            i += 1;
            continue;
        }
        let (len, min) = match byte {
            0xc2..=0xdf => (2, 0x80),
            0xe0..=0xef => (3, 0x800),
            0xf0..=0xf4 => (4, 0x10000),
            _ => return false,
        };
        let Some(sequence) = raw.get(i..i + len) else {
            return false;
        };
        if sequence[1..].iter().any(|b| b & 0xc0 != 0x80) {
            return false;
        }
        let mut point = u32::from(byte) & (0x7f >> len);
        for b in &sequence[1..] {
            point = (point << 6) | u32::from(b & 0x3f);
        }
        if point < min || point > 0x10ffff {
            return false;
        }
        let lead = (0xd800..0xdc00).contains(&point);
        let trail = (0xdc00..0xe000).contains(&point);
        if trail && after_lead_surrogate {
            return false;
        }
        after_lead_surrogate = lead;
        i += len;
    }
    true
}

/// How people see a name that is not text: UTF-8 as it is, other bytes as
/// `\xNN`; backslashes and control characters escaped too, so that the
/// escaped form reads back (`unescape`) to the very bytes.
pub fn display(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str("\\x");
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
    out
}

/// The bytes an escaped form from `display` stands for; `None` when the
/// text is not such a form.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut raw = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buffer = [0u8; 4];
            raw.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        match chars.next()? {
            '\\' => raw.push(b'\\'),
            'x' => {
                let digits: String = chars.by_ref().take(2).collect();
                raw.push(u8::from_str_radix(&digits, 16).ok()?);
            }
            't' => raw.push(b'\t'),
            'n' => raw.push(b'\n'),
            'r' => raw.push(b'\r'),
            'u' => {
                let braced: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let point = u32::from_str_radix(braced.strip_prefix('{')?, 16).ok()?;
                let mut buffer = [0u8; 4];
                raw.extend_from_slice(char::from_u32(point)?.encode_utf8(&mut buffer).as_bytes());
            }
            _ => return None,
        }
    }
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_travel_as_they_are() {
        assert!(matches!(encode(b"/etc/hosts"), Cow::Borrowed("/etc/hosts")));
        assert!(matches!(decode("/etc/hosts"), Cow::Borrowed(b"/etc/hosts")));
        assert_eq!(encode("Grüße/日本".as_bytes()), "Grüße/日本");
    }

    #[test]
    fn other_bytes_are_escaped_and_come_back_exactly() {
        let names: [&[u8]; 6] = [
            b"bad\xffname",
            b"bad\xfename",
            b"bad\xef\xbf\xbdname", // a real U+FFFD
            b"\xff",
            b"\xc3",
            b"bad\\xffname", // backslash, x, f, f: text
        ];
        let mut seen = std::collections::HashSet::new();
        for raw in names {
            let guest = encode(raw).into_owned();
            assert!(seen.insert(guest.clone()), "two names share {guest:?}");
            assert_eq!(decode(&guest).as_ref(), raw, "{guest:?}");
        }
        assert_eq!(encode(b"bad\xffname"), "bad\u{FFFD}ffname");
        assert_eq!(encode("a\u{FFFD}b".as_bytes()), "a\u{FFFD}\u{FFFD}b");
    }

    #[test]
    fn strings_encode_could_not_make_stand_for_themselves() {
        for text in ["a\u{FFFD}41", "a\u{FFFD}", "a\u{FFFD}zz", "a\u{FFFD}FF"] {
            assert_eq!(decode(text).as_ref(), text.as_bytes(), "{text:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn host_names_are_the_exact_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"bad\xffname");
        let guest = to_guest(name);
        assert_eq!(to_host(&guest).unwrap().as_bytes(), b"bad\xffname");
    }

    #[test]
    fn wtf8_is_told_from_other_bytes() {
        assert!(is_wtf8("plain é 日".as_bytes()));
        assert!(is_wtf8(b"lone \xed\xa0\x80 lead"));
        assert!(is_wtf8(b"lone \xed\xb0\x80 trail"));
        assert!(
            !is_wtf8(b"paired \xed\xa0\x80\xed\xb0\x80"),
            "a pair is written as four bytes"
        );
        assert!(!is_wtf8(b"\xff"));
        assert!(!is_wtf8(b"\xc0\x80"), "overlong");
        assert!(!is_wtf8(b"\xe0\x80"), "cut short");
    }

    #[test]
    fn people_see_escapes_that_read_back() {
        for raw in [&b"bad\xffname"[..], b"a\\b\xfe", b"tab\there\n", "ok é".as_bytes()] {
            let shown = display(raw);
            assert_eq!(unescape(&shown).as_deref(), Some(raw), "{shown}");
        }
        assert_eq!(display(b"bad\xffname"), "bad\\xffname");
        assert_eq!(display(b"a\\b\xfe"), "a\\\\b\\xfe");
        assert_eq!(unescape("bad\\q"), None);
    }
}
