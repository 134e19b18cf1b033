//! Printing: aligned tables for people, one JSON object per line for programs.

use std::io::Write;

use serde_json::{Map, Value as Json};

use crate::inventory::Value;

/// A table printed with aligned columns.
pub struct Table {
    headers: Vec<String>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            right_aligned: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Aligns a column (numbers) to the right.
    pub fn right(mut self, column: usize) -> Self {
        self.right_aligned[column] = true;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                let last = i + 1 == row.len();
                if self.right_aligned[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Shortens text for a table cell, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.lines().next().unwrap_or_default();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Writes one JSON object on its own line.
pub fn json_line(out: &mut impl Write, object: Map<String, Json>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &Json::Object(object))?;
    writeln!(out)
}

/// Writes a value as one line of JSON.
pub fn json_record(out: &mut impl Write, record: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// Writes stored columns as one JSON object on its own line.
pub fn json_columns(out: &mut impl Write, columns: &[(String, Value)]) -> std::io::Result<()> {
    json_line(out, columns.iter().map(|(c, v)| (c.clone(), json_value(v))).collect())
}

pub fn json_value(value: &Value) -> Json {
    match value {
        Value::Text(t) => Json::String(t.clone()),
        Value::Integer(n) => Json::from(*n),
        Value::Null => Json::Null,
        Value::Bytes(_) => Json::String(value.display().into_owned()),
    }
}

pub fn cell(value: Option<&Value>) -> String {
    value.map(|v| v.display().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["NAME", "N"]).right(1);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "100".into()]);
        let mut out = Vec::new();
        t.print(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME      N\na         1\nlonger  100\n"
        );
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ab\ncd", 10), "ab");
    }
}
