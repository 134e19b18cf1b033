//! Writes hive files from a description of their keys and values: fixtures
//! for tests, in every layout the reader must understand (each kind of
//! subkey list, inline and big data, Latin-1 and UTF-16 names).

/// A key to write, with its values and subkeys.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    pub name: String,
    pub last_written: u64,
    pub class_name: Option<String>,
    pub values: Vec<ValueSpec>,
    pub subkeys: Vec<KeySpec>,
}

/// A value to write: type number and raw data.
#[derive(Debug, Clone)]
pub struct ValueSpec {
    pub name: String,
    pub value_type: u32,
    pub data: Vec<u8>,
}

/// How subkey lists are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListKind {
    /// Hash leaves, what current Windows writes.
    #[default]
    Lh,
    /// Fast leaves with name hints (Windows XP).
    Lf,
    /// Plain index leaves.
    Li,
    /// An index root over hash leaves of two entries each.
    Ri,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub lists: ListKind,
    /// Format 1.x; big data ("db") exists from 1.4 on.
    pub minor_version: u32,
    /// Write differing sequence numbers, as a hive not closed cleanly has.
    pub dirty: bool,
    /// Store every name as UTF-16 even when Latin-1 would do.
    pub utf16_names: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lists: ListKind::Lh,
            minor_version: 5,
            dirty: false,
            utf16_names: false,
        }
    }
}

impl KeySpec {
    pub fn new(name: &str) -> KeySpec {
        KeySpec {
            name: name.into(),
            // 2020-01-01T00:00:00Z
            last_written: 132_223_104_000_000_000,
            ..KeySpec::default()
        }
    }

    /// Adds a subkey.
    pub fn key(mut self, key: KeySpec) -> KeySpec {
        self.subkeys.push(key);
        self
    }

    /// Adds a value of any type.
    pub fn value(mut self, name: &str, value_type: u32, data: impl Into<Vec<u8>>) -> KeySpec {
        self.values.push(ValueSpec {
            name: name.into(),
            value_type,
            data: data.into(),
        });
        self
    }

    pub fn sz(self, name: &str, text: &str) -> KeySpec {
        self.value(name, 1, utf16z(text))
    }

    pub fn expand_sz(self, name: &str, text: &str) -> KeySpec {
        self.value(name, 2, utf16z(text))
    }

    pub fn multi_sz(self, name: &str, items: &[&str]) -> KeySpec {
        let mut data: Vec<u8> = items.iter().flat_map(|s| utf16z(s)).collect();
        data.extend([0, 0]);
        self.value(name, 7, data)
    }

    pub fn dword(self, name: &str, n: u32) -> KeySpec {
        self.value(name, 4, n.to_le_bytes())
    }

    pub fn qword(self, name: &str, n: u64) -> KeySpec {
        self.value(name, 11, n.to_le_bytes())
    }

    pub fn binary(self, name: &str, data: &[u8]) -> KeySpec {
        self.value(name, 3, data)
    }

    /// Sets the last write time (FILETIME).
    pub fn written(mut self, filetime: u64) -> KeySpec {
        self.last_written = filetime;
        self
    }
}

/// UTF-16LE with a terminating NUL, as Windows stores strings.
pub fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
}

/// The bytes of a hive whose root key is `root`.
pub fn write(root: &KeySpec, options: Options) -> Vec<u8> {
    let mut writer = Writer {
        bins: Vec::new(),
        bin_start: 0,
        options,
    };
    let root_offset = writer.key(root, u32::MAX, true);
    writer.close_bin();
    let mut hive = base_block(root_offset, writer.bins.len() as u32, options);
    hive.extend(writer.bins);
    hive
}

const BIN: usize = 4096;
const BIG_SEGMENT: usize = 16344;

struct Writer {
    bins: Vec<u8>,
    bin_start: usize,
    options: Options,
}

impl Writer {
    /// Allocates a cell holding `data`; returns its offset.
    fn alloc(&mut self, data: &[u8]) -> u32 {
        let size = (4 + data.len()).div_ceil(8) * 8;
        if self.bins.len() + size > self.bin_start + self.bin_size() || self.bins.is_empty() {
            self.close_bin();
            self.bin_start = self.bins.len();
            let bin_size = (0x20 + size).div_ceil(BIN) * BIN;
            self.bins.extend(b"hbin");
            self.bins.extend((self.bin_start as u32).to_le_bytes());
            self.bins.extend((bin_size as u32).to_le_bytes());
            self.bins.resize(self.bin_start + 0x20, 0);
        }
        let offset = self.bins.len() as u32;
        self.bins.extend((-(size as i32)).to_le_bytes());
        self.bins.extend(data);
        self.bins.resize(offset as usize + size, 0);
        offset
    }

    fn bin_size(&self) -> usize {
        if self.bins.is_empty() {
            return 0;
        }
        let at = self.bin_start + 8;
        u32::from_le_bytes(self.bins[at..at + 4].try_into().unwrap_or_default()) as usize
    }

    /// Fills the rest of the current bin with one free cell.
    fn close_bin(&mut self) {
        if self.bins.is_empty() {
            return;
        }
        let end = self.bin_start + self.bin_size();
        let free = end - self.bins.len();
        if free > 0 {
            let at = self.bins.len();
            self.bins.resize(end, 0);
            self.bins[at..at + 4].copy_from_slice(&(free as i32).to_le_bytes());
        }
    }

    fn patch(&mut self, cell: u32, field: usize, value: u32) {
        let at = cell as usize + 4 + field;
        self.bins[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn name_bytes(&self, name: &str) -> (Vec<u8>, bool) {
        let latin1 = name.chars().all(|c| u32::from(c) < 0x100);
        if latin1 && !self.options.utf16_names {
            (name.chars().map(|c| c as u8).collect(), true)
        } else {
            (name.encode_utf16().flat_map(u16::to_le_bytes).collect(), false)
        }
    }

    fn key(&mut self, spec: &KeySpec, parent: u32, is_root: bool) -> u32 {
        let (name, compressed) = self.name_bytes(&spec.name);
        let mut nk = vec![0u8; 0x4c];
        nk[..2].copy_from_slice(b"nk");
        let flags: u16 = if compressed { 0x20 } else { 0 } | if is_root { 0x0c } else { 0 };
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..12].copy_from_slice(&spec.last_written.to_le_bytes());
        nk[0x10..0x14].copy_from_slice(&parent.to_le_bytes());
        nk[0x14..0x18].copy_from_slice(&(spec.subkeys.len() as u32).to_le_bytes());
        for field in [0x1c, 0x20, 0x28, 0x2c, 0x30] {
            nk[field..field + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        nk[0x24..0x28].copy_from_slice(&(spec.values.len() as u32).to_le_bytes());
        nk[0x48..0x4a].copy_from_slice(&(name.len() as u16).to_le_bytes());
        nk.extend(&name);
        let offset = self.alloc(&nk);

        if let Some(class) = &spec.class_name {
            let bytes: Vec<u8> = class.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let at = self.alloc(&bytes);
            self.patch(offset, 0x30, at);
            let at = offset as usize + 4 + 0x4a;
            self.bins[at..at + 2].copy_from_slice(&(bytes.len() as u16).to_le_bytes());
        }
        if !spec.values.is_empty() {
            let vks: Vec<u32> = spec.values.iter().map(|v| self.value(v)).collect();
            let list: Vec<u8> = vks.iter().flat_map(|o| o.to_le_bytes()).collect();
            let at = self.alloc(&list);
            self.patch(offset, 0x28, at);
        }
        if !spec.subkeys.is_empty() {
            let mut children: Vec<(String, u32)> = spec
                .subkeys
                .iter()
                .map(|k| (k.name.clone(), self.key(k, offset, false)))
                .collect();
            children.sort_by_key(|(name, _)| name.to_uppercase());
            let list = self.subkey_list(&children);
            self.patch(offset, 0x1c, list);
        }
        offset
    }

    fn subkey_list(&mut self, children: &[(String, u32)]) -> u32 {
        match self.options.lists {
            ListKind::Ri => {
                let leaves: Vec<u32> = children.chunks(2).map(|c| self.leaf(c, ListKind::Lh)).collect();
                let mut ri = b"ri".to_vec();
                ri.extend((leaves.len() as u16).to_le_bytes());
                ri.extend(leaves.iter().flat_map(|o| o.to_le_bytes()));
                self.alloc(&ri)
            }
            kind => self.leaf(children, kind),
        }
    }

    fn leaf(&mut self, children: &[(String, u32)], kind: ListKind) -> u32 {
        let mut cell = match kind {
            ListKind::Lf => b"lf".to_vec(),
            ListKind::Li => b"li".to_vec(),
            _ => b"lh".to_vec(),
        };
        cell.extend((children.len() as u16).to_le_bytes());
        for (name, offset) in children {
            cell.extend(offset.to_le_bytes());
            match kind {
                ListKind::Li => {}
                ListKind::Lf => {
                    let mut hint = [0u8; 4];
                    for (slot, c) in hint.iter_mut().zip(name.chars()) {
                        *slot = if u32::from(c) < 0x100 { c as u8 } else { 0 };
                    }
                    cell.extend(hint);
                }
                _ => cell.extend(name_hash(name).to_le_bytes()),
            }
        }
        self.alloc(&cell)
    }

    fn value(&mut self, spec: &ValueSpec) -> u32 {
        let (name, compressed) = self.name_bytes(&spec.name);
        let len = spec.data.len() as u32;
        let (size, data_offset) = if spec.data.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..spec.data.len()].copy_from_slice(&spec.data);
            (len | 0x8000_0000, u32::from_le_bytes(inline))
        } else if spec.data.len() > BIG_SEGMENT && self.options.minor_version > 3 {
            (len, self.big_data(&spec.data))
        } else {
            (len, self.alloc(&spec.data))
        };
        let mut vk = vec![0u8; 0x14];
        vk[..2].copy_from_slice(b"vk");
        vk[2..4].copy_from_slice(&(name.len() as u16).to_le_bytes());
        vk[4..8].copy_from_slice(&size.to_le_bytes());
        vk[8..12].copy_from_slice(&data_offset.to_le_bytes());
        vk[12..16].copy_from_slice(&spec.value_type.to_le_bytes());
        vk[16..18].copy_from_slice(&u16::from(compressed).to_le_bytes());
        vk.extend(&name);
        self.alloc(&vk)
    }

    fn big_data(&mut self, data: &[u8]) -> u32 {
        let segments: Vec<u32> = data.chunks(BIG_SEGMENT).map(|s| self.alloc(s)).collect();
        let list: Vec<u8> = segments.iter().flat_map(|o| o.to_le_bytes()).collect();
        let list = self.alloc(&list);
        let mut db = b"db".to_vec();
        db.extend((segments.len() as u16).to_le_bytes());
        db.extend(list.to_le_bytes());
        self.alloc(&db)
    }
}

/// The hash of a name in an "lh" list: over its uppercased characters.
fn name_hash(name: &str) -> u32 {
    name.to_uppercase()
        .chars()
        .fold(0u32, |h, c| h.wrapping_mul(37).wrapping_add(u32::from(c)))
}

fn base_block(root: u32, bins_size: u32, options: Options) -> Vec<u8> {
    let mut block = vec![0u8; 4096];
    let mut put = |at: usize, v: u32| block[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0x04, 1);
    put(0x08, if options.dirty { 2 } else { 1 });
    put(0x14, 1);
    put(0x18, options.minor_version);
    put(0x20, 1);
    put(0x24, root);
    put(0x28, bins_size);
    put(0x2c, 1);
    block[..4].copy_from_slice(b"regf");
    let sum = (0..0x1fc).step_by(4).fold(0u32, |s, at| {
        s ^ u32::from_le_bytes(block[at..at + 4].try_into().unwrap_or_default())
    });
    let sum = match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        s => s,
    };
    block[0x1fc..0x200].copy_from_slice(&sum.to_le_bytes());
    block
}
