//! `driftwatch diff`: the content of a tracked file before and after one of
//! its changes, from captured contents.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use serde_json::json;
use similar::{DiffOp, DiffTag, TextDiff};

use super::Context;
use crate::content_store::{ContentStore, is_text};
use crate::exact_path;
use crate::inventory::{DataType, Value};
use crate::store::{ChangeFilter, ChangeRow};

/// Which change to show.
pub enum Which {
    Latest,
    At(String),
    Change(i64),
}

/// One side of a change: text, or why there is none.
enum Side {
    Text(String),
    Absent(String),
}

impl Side {
    fn note(&self) -> Option<&str> {
        match self {
            Side::Text(_) => None,
            Side::Absent(why) => Some(why),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Side::Text(text) => Some(text),
            Side::Absent(_) => None,
        }
    }
}

pub fn run(ctx: &Context, path: &OsStr, which: Which, side_by_side: bool, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let mut filter = ChangeFilter {
        data_type: Some(DataType::Files),
        ..Default::default()
    };
    match &which {
        Which::Latest => {}
        Which::At(time) => filter.until = Some(time.clone()),
        Which::Change(id) => filter.id = Some(*id),
    }
    // The path as given, or as listings show a name that is not UTF-8
    // (`bad\xffname`).
    let given = Value::path(exact_path::to_guest(path).into_owned());
    let unescaped = path
        .to_str()
        .and_then(exact_path::unescape)
        .map(|raw| match String::from_utf8(raw) {
            Ok(text) => Value::Text(text),
            Err(error) => Value::Bytes(error.into_bytes()),
        });
    let mut found = None;
    for candidate in std::iter::once(given.clone()).chain(unescaped.filter(|u| *u != given)) {
        filter.path = Some(candidate);
        found = store.changes(&filter)?.pop();
        if found.is_some() {
            break;
        }
    }
    let shown = filter
        .path
        .as_ref()
        .filter(|_| found.is_some())
        .unwrap_or(&given)
        .display()
        .into_owned();
    let path = shown.as_str();
    let Some(change) = found else {
        let when = match which {
            Which::Latest => String::new(),
            Which::At(time) => format!(" at or before {time}"),
            Which::Change(id) => format!(" with id {id}"),
        };
        anyhow::bail!("no recorded change of the file {path}{when} (see `driftwatch changes --type Files`)");
    };
    let content = store.content();
    let (before, after) = sides(&change, &content);
    let mut out = std::io::stdout().lock();
    if json {
        let side = |side: &Side, hash: &str, state: &str| {
            json!({ "ContentHash": non_empty(change.text(hash)), "ContentState": non_empty(change.text(state)),
                    "Text": side.text(), "Note": side.note() })
        };
        let diff = match (before.text(), after.text()) {
            (Some(old), Some(new)) => Some(unified(path, old, new)),
            _ => None,
        };
        let (before_hash, before_state) = previous_columns(&change);
        let document = json!({
            "ChangeId": change.id,
            "FileSystemPath": path,
            "TimeGenerated": change.text("TimeGenerated"),
            "ChangeCategory": change.text("ChangeCategory"),
            "Before": side(&before, before_hash, before_state),
            "After": side(&after, "ContentHash", "ContentState"),
            "Diff": diff,
        });
        writeln!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    writeln!(
        out,
        "{} change {} of {path} at {}",
        change.text("ChangeCategory"),
        change.id,
        change.text("TimeGenerated")
    )?;
    match (&before, &after) {
        (Side::Text(old), Side::Text(new)) if old == new => writeln!(out, "The content is the same on both sides.")?,
        (Side::Text(old), Side::Text(new)) if side_by_side => {
            write!(out, "{}", side_by_side_diff(old, new, terminal_width(), colour))?
        }
        (Side::Text(old), Side::Text(new)) => write!(out, "{}", colourise(&unified(path, old, new), colour))?,
        _ => {
            for (label, side) in [("before", &before), ("after", &after)] {
                match side {
                    Side::Absent(why) => writeln!(out, "{label}: {why}")?,
                    Side::Text(text) => {
                        writeln!(out, "{label}: {} lines", text.lines().count())?;
                        for line in text.lines() {
                            writeln!(out, "  {line}")?;
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// The columns holding the version before the change: the previous ones for
/// a modification, the removed version itself for a removal.
fn previous_columns(change: &ChangeRow) -> (&'static str, &'static str) {
    match change.text("ChangeCategory") {
        "Removed" => ("ContentHash", "ContentState"),
        _ => ("PreviousContentHash", "PreviousContentState"),
    }
}

fn sides(change: &ChangeRow, content: &ContentStore) -> (Side, Side) {
    let version = |hash: &str, state: &str| load(change.text(hash), change.text(state), content);
    match change.text("ChangeCategory") {
        "Added" => (
            Side::Absent("the file did not exist".into()),
            version("ContentHash", "ContentState"),
        ),
        "Removed" => (
            version("ContentHash", "ContentState"),
            Side::Absent("the file was removed".into()),
        ),
        _ => (
            version("PreviousContentHash", "PreviousContentState"),
            version("ContentHash", "ContentState"),
        ),
    }
}

fn load(hash: &str, state: &str, content: &ContentStore) -> Side {
    match (hash, state) {
        ("", "") => Side::Absent("not captured (capture_content was off for this file)".into()),
        ("", "binary") => Side::Absent("binary content, not captured (capture_binary = true keeps it)".into()),
        ("", "too large") => Side::Absent("larger than max_content_size, not captured".into()),
        ("", other) => Side::Absent(format!("not captured ({other})")),
        (hash, _) => match content.get(hash) {
            Ok(bytes) if is_text(&bytes) => Side::Text(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(bytes) => Side::Absent(format!("binary content ({} bytes, sha256 {hash})", bytes.len())),
            Err(error) => Side::Absent(error.to_string()),
        },
    }
}

/// A unified diff with three lines of context.
fn unified(path: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path} (before)"), &format!("{path} (after)"))
        .to_string()
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

fn colourise(diff: &str, colour: bool) -> String {
    if !colour {
        return diff.to_string();
    }
    diff.lines()
        .map(|line| {
            let paint = match line.as_bytes().first() {
                Some(b'+') => GREEN,
                Some(b'-') => RED,
                Some(b'@') => CYAN,
                _ => return format!("{line}\n"),
            };
            format!("{paint}{line}{RESET}\n")
        })
        .collect()
}

/// Two columns, before on the left and after on the right, each half the
/// width; `|` marks a changed line, `<` one only before, `>` one only after.
fn side_by_side_diff(old: &str, new: &str, width: usize, colour: bool) -> String {
    let column = width.saturating_sub(3) / 2;
    let diff = TextDiff::from_lines(old, new);
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (diff.old_slices().to_vec(), diff.new_slices().to_vec());
    let mut out = String::new();
    for (n, group) in diff.grouped_ops(3).iter().enumerate() {
        if n > 0 {
            out.push_str(&format!("{}\n", "┈".repeat(width.min(column * 2 + 3))));
        }
        for op in group {
            let (left, right) = match *op {
                DiffOp::Equal {
                    old_index,
                    new_index,
                    len,
                } => (
                    (old_index..old_index + len).map(Some).collect::<Vec<_>>(),
                    (new_index..new_index + len).map(Some).collect::<Vec<_>>(),
                ),
                DiffOp::Delete { old_index, old_len, .. } => (
                    (old_index..old_index + old_len).map(Some).collect(),
                    vec![None; old_len],
                ),
                DiffOp::Insert { new_index, new_len, .. } => (
                    vec![None; new_len],
                    (new_index..new_index + new_len).map(Some).collect(),
                ),
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let rows = old_len.max(new_len);
                    let pad = |start: usize, len: usize| (0..rows).map(|i| (i < len).then_some(start + i)).collect();
                    (pad(old_index, old_len), pad(new_index, new_len))
                }
            };
            let tag = op.tag();
            for (l, r) in left.into_iter().zip(right) {
                let text = |lines: &[&str], i: Option<usize>| {
                    fit(i.map_or("", |i| lines[i].trim_end_matches(['\n', '\r'])), column)
                };
                let (l_text, r_text) = (text(&old_lines, l), text(&new_lines, r));
                let marker = match (tag, l.is_some(), r.is_some()) {
                    (DiffTag::Equal, _, _) => ' ',
                    (_, true, true) => '|',
                    (_, true, false) => '<',
                    _ => '>',
                };
                let paint = |s: String, c: &str| {
                    if colour && marker != ' ' {
                        format!("{c}{s}{RESET}")
                    } else {
                        s
                    }
                };
                out.push_str(&format!(
                    "{} {marker} {}\n",
                    paint(l_text, RED),
                    paint(r_text, GREEN).trim_end()
                ));
            }
        }
    }
    out
}

/// `text` cut or padded to exactly `width` characters.
fn fit(text: &str, width: usize) -> String {
    let text = text.replace('\t', "    ");
    let count = text.chars().count();
    if count > width {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        format!("{text}{}", " ".repeat(width - count))
    }
}

/// The terminal's width: `COLUMNS`, the terminal itself, or 160 columns.
fn terminal_width() -> usize {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return columns;
    }
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ fills a winsize struct we own.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
            return usize::from(size.ws_col);
        }
    }
    160
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_pairs_lines_and_marks_them() {
        let text = side_by_side_diff("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n", 23, false);
        let pad = |s: &str| format!("{s:<10}");
        let expected = [
            format!("{}   a", pad("a")),
            format!("{} | B", pad("b")),
            format!("{}   c", pad("c")),
            format!("{}   d", pad("d")),
            format!("{} > e", pad("")),
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    }

    #[test]
    fn unified_diffs_have_headers_and_hunks() {
        let diff = unified("/etc/x", "a\nb\n", "a\nc\n");
        assert!(diff.contains("--- /etc/x (before)"));
        assert!(diff.contains("-b\n+c\n"), "{diff}");
        assert!(colourise(&diff, true).contains("\x1b[32m+c"));
    }

    #[test]
    fn long_lines_are_cut_to_their_column() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ab", 4), "ab  ");
    }
}
