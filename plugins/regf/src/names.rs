//! Key and value names: Latin-1 or UTF-16LE in the hive, compared without
//! regard to case as Windows does.

/// Decodes a name: `compressed` names hold one Latin-1 byte per character.
pub(crate) fn decode_name(bytes: &[u8], compressed: bool) -> String {
    if compressed {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        utf16le(bytes)
    }
}

/// UTF-16LE text, unpaired surrogates replaced; an odd last byte is dropped.
pub fn utf16le(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Case-insensitive equality, as the registry compares names.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_and_compare() {
        assert_eq!(decode_name(b"Select", true), "Select");
        assert_eq!(decode_name(&[0xe9, b'x'], true), "éx");
        assert_eq!(decode_name(&[0x41, 0, 0x3a, 0x04], false), "AЀ".replace('Ѐ', "\u{43a}"));
        assert_eq!(utf16le(&[0x00, 0xd8, 0x41, 0x00]), "\u{fffd}A");
        assert!(eq_ignore_case("CurrentControlSet", "currentcontrolset"));
        assert!(eq_ignore_case("Ärger", "äRGER"));
        assert!(!eq_ignore_case("Run", "RunOnce"));
    }
}
