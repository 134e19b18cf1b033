//! Inputs: seeds mutated by a proptest strategy, or random bytes.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;

/// The seed files of a target, sorted by name; an empty input when none.
pub fn load_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds
}

/// One edit of an input. Positions and lengths are taken modulo the input's
/// size when applied, so any value is meaningful.
#[derive(Debug, Clone)]
enum Edit {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// Small integers that format headers are made of, little- or big-endian.
    SetWord(usize, u32, bool),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize, usize),
    /// Bytes from another seed, copied over.
    Splice(usize, usize, usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7f),
        Just(0x80),
        Just(0xff),
        Just(0xffff),
        Just(0x7fff_ffff),
        Just(0xffff_ffff),
        any::<u32>()
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::SetByte(at, byte)),
        (any::<usize>(), interesting, any::<bool>()).prop_map(|(at, word, big)| Edit::SetWord(at, word, big)),
        (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), 1usize..256, any::<usize>()).prop_map(|(from, len, to)| Edit::Duplicate(from, len, to)),
        (any::<usize>(), any::<usize>(), 1usize..512, any::<usize>())
            .prop_map(|(seed, from, len, to)| Edit::Splice(seed, from, len, to)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(input: &mut Vec<u8>, edit: &Edit, seeds: &[Vec<u8>]) {
    let len = input.len();
    let at = |i: usize| if len == 0 { 0 } else { i % len };
    match edit {
        Edit::FlipBit(i, bit) if len > 0 => input[at(*i)] ^= 1 << bit,
        Edit::SetByte(i, byte) if len > 0 => input[at(*i)] = *byte,
        Edit::SetWord(i, word, big) if len >= 4 => {
            let start = at(*i).min(len - 4);
            let bytes = if *big { word.to_be_bytes() } else { word.to_le_bytes() };
            input[start..start + 4].copy_from_slice(&bytes);
        }
        Edit::Insert(i, bytes) => {
            let start = if len == 0 { 0 } else { *i % (len + 1) };
            input.splice(start..start, bytes.iter().copied());
        }
        Edit::Delete(i, n) if len > 0 => {
            let start = at(*i);
            let end = (start + n).min(len);
            input.drain(start..end);
        }
        Edit::Duplicate(from, n, to) if len > 0 => {
            let start = at(*from);
            let piece: Vec<u8> = input[start..(start + n).min(len)].to_vec();
            let to = *to % (len + 1);
            input.splice(to..to, piece);
        }
        Edit::Splice(seed, from, n, to) if len > 0 => {
            let other = &seeds[seed % seeds.len()];
            if other.is_empty() {
                return;
            }
            let start = from % other.len();
            let piece = &other[start..(start + n).min(other.len())];
            let to = at(*to);
            let end = (to + piece.len()).min(len);
            input[to..end].copy_from_slice(&piece[..end - to]);
        }
        Edit::Truncate(i) if len > 0 => input.truncate(at(*i)),
        _ => {}
    }
}

/// Mutated seeds (most inputs), or random bytes.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    let mutated = (0..count, vec(edit(), 1..12)).prop_map(move |(which, edits)| {
        let mut input = seeds[which].clone();
        for edit in &edits {
            apply(&mut input, edit, &seeds);
        }
        input
    });
    prop_oneof![9 => mutated, 1 => vec(any::<u8>(), 0..4096)]
}
