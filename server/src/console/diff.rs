//! Line diffs of a file's captured contents, inline or side by side, in
//! hunks with three lines of context.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// One line of an inline diff.
pub struct InlineLine {
    /// `same`, `added` or `removed` (a CSS class).
    pub kind: &'static str,
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

/// One row of a side-by-side diff: the old line and the new one.
pub struct SplitRow {
    pub old: Option<(usize, String)>,
    pub new: Option<(usize, String)>,
    /// `same` or `changed`.
    pub kind: &'static str,
}

/// A line and its number.
type Numbered = (usize, String);

pub struct Hunk {
    pub header: String,
    pub inline: Vec<InlineLine>,
    pub split: Vec<SplitRow>,
}

/// How long a diff may take; past it, the diff found so far (coarser) is shown.
const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Lines a page shows at most, over all hunks.
pub const MAX_LINES: usize = 5_000;

/// The hunks between `old` and `new` (no hunks: the same text), at most
/// `MAX_LINES` lines of them; and whether some were left out. CPU work:
/// call it off the async workers.
pub fn hunks(old: &str, new: &str) -> (Vec<Hunk>, bool) {
    let diff = TextDiff::configure().timeout(TIME_LIMIT).diff_lines(old, new);
    let mut shown = 0;
    let mut cut = false;
    let hunks = diff
        .grouped_ops(3)
        .iter()
        .take_while(|group| {
            let lines: usize = group
                .iter()
                .map(|op| op.old_range().len().max(op.new_range().len()))
                .sum();
            shown += lines;
            cut = shown > MAX_LINES;
            !cut
        })
        .map(|group| {
            let (mut inline, mut split) = (Vec::new(), Vec::new());
            let (mut removed, mut added): (Vec<Numbered>, Vec<Numbered>) = (Vec::new(), Vec::new());
            let flush = |removed: &mut Vec<Numbered>, added: &mut Vec<Numbered>, split: &mut Vec<SplitRow>| {
                let rows = removed.len().max(added.len());
                let (mut old_lines, mut new_lines) = (removed.drain(..), added.drain(..));
                for _ in 0..rows {
                    split.push(SplitRow {
                        old: old_lines.next(),
                        new: new_lines.next(),
                        kind: "changed",
                    });
                }
            };
            for op in group {
                for change in diff.iter_changes(op) {
                    let text = change.value().trim_end_matches(['\n', '\r']).to_string();
                    let (old, new) = (change.old_index().map(|i| i + 1), change.new_index().map(|i| i + 1));
                    let kind = match change.tag() {
                        ChangeTag::Equal => "same",
                        ChangeTag::Delete => "removed",
                        ChangeTag::Insert => "added",
                    };
                    match change.tag() {
                        ChangeTag::Equal => {
                            flush(&mut removed, &mut added, &mut split);
                            split.push(SplitRow {
                                old: old.map(|n| (n, text.clone())),
                                new: new.map(|n| (n, text.clone())),
                                kind: "same",
                            });
                        }
                        ChangeTag::Delete => removed.extend(old.map(|n| (n, text.clone()))),
                        ChangeTag::Insert => added.extend(new.map(|n| (n, text.clone()))),
                    }
                    inline.push(InlineLine { kind, old, new, text });
                }
            }
            flush(&mut removed, &mut added, &mut split);
            let header = match (group.first(), group.last()) {
                (Some(first), Some(last)) => {
                    let (old, new) = (first.old_range().start, first.new_range().start);
                    let (old_end, new_end) = (last.old_range().end, last.new_range().end);
                    format!("@@ -{},{} +{},{} @@", old + 1, old_end - old, new + 1, new_end - new)
                }
                _ => String::new(),
            };
            Hunk { header, inline, split }
        })
        .collect();
    (hunks, cut)
}

/// Content that reads as text: UTF-8 without NUL.
pub fn as_text(content: &[u8]) -> Option<&str> {
    std::str::from_utf8(content).ok().filter(|text| !text.contains('\0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_pairs_up_side_by_side_within_its_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
        let (hunks, cut) = hunks(old, new);
        assert!(!cut);
        assert_eq!(hunks.len(), 1);
        let hunk = &hunks[0];
        assert_eq!(hunk.header, "@@ -2,7 +2,8 @@");
        let removed: Vec<_> = hunk
            .inline
            .iter()
            .filter(|l| l.kind == "removed")
            .map(|l| l.text.as_str())
            .collect();
        let added: Vec<_> = hunk
            .inline
            .iter()
            .filter(|l| l.kind == "added")
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(removed, ["e"]);
        assert_eq!(added, ["E", "i"]);
        let changed: Vec<_> = hunk.split.iter().filter(|r| r.kind == "changed").collect();
        assert_eq!(changed.len(), 2);
        assert_eq!(changed[0].old, Some((5, "e".to_string())));
        assert_eq!(changed[0].new, Some((5, "E".to_string())));
        assert_eq!(changed[1].old, None);
        assert_eq!(changed[1].new, Some((9, "i".to_string())));
    }

    #[test]
    fn long_diffs_are_cut_at_whole_hunks() {
        let old: String = (0..3 * MAX_LINES).map(|n| format!("{n}\n")).collect();
        let new: String = (0..3 * MAX_LINES)
            .map(|n| format!("{}\n", if n % 10 == 0 { n + 1 } else { n }))
            .collect();
        let (hunks, cut) = hunks(&old, &new);
        assert!(cut);
        let lines: usize = hunks.iter().map(|h| h.split.len()).sum();
        assert!(lines <= MAX_LINES && lines > MAX_LINES / 2, "{lines}");
    }

    #[test]
    fn the_same_text_has_no_hunks_and_binary_is_not_text() {
        assert!(hunks("x\n", "x\n").0.is_empty());
        assert_eq!(as_text(b"ok"), Some("ok"));
        assert_eq!(as_text(b"a\0b"), None);
        assert_eq!(as_text(&[0xff, 0xfe]), None);
    }
}
