//! File attribute flags in the words Windows uses for them.

const NAMES: &[(u32, &str)] = &[
    (0x1, "ReadOnly"),
    (0x2, "Hidden"),
    (0x4, "System"),
    (0x10, "Directory"),
    (0x20, "Archive"),
    (0x40, "Device"),
    (0x80, "Normal"),
    (0x100, "Temporary"),
    (0x200, "SparseFile"),
    (0x400, "ReparsePoint"),
    (0x800, "Compressed"),
    (0x1000, "Offline"),
    (0x2000, "NotContentIndexed"),
    (0x4000, "Encrypted"),
    (0x8000, "IntegrityStream"),
    (0x20000, "NoScrubData"),
];

/// `Hidden, System, Archive`: the named flags, in bit order; unnamed bits in hex.
pub fn text(flags: u32) -> String {
    let mut parts: Vec<String> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect();
    let unnamed = NAMES.iter().fold(flags, |rest, (bit, _)| rest & !bit);
    if unnamed != 0 {
        parts.push(format!("0x{unnamed:x}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_read_like_powershell() {
        assert_eq!(super::text(0x26), "Hidden, System, Archive");
        assert_eq!(super::text(0x10), "Directory");
        assert_eq!(super::text(0x80 | 0x40000), "Normal, 0x40000");
        assert_eq!(super::text(0), "");
    }
}
