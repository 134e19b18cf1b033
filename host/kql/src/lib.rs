//! A subset of KQL (the query language of Azure Monitor logs) over
//! `ConfigurationChange` and `ConfigurationData`, translated to one
//! parameterised SQL statement, for SQLite (the agent's store) or PostgreSQL
//! (the fleet server's): one parser and one set of checks, one translation
//! with a few dialect choices.
//!
//! | module | job |
//! |---|---|
//! | `lexer` | text → tokens (strings, verbatim strings, timespans, `datetime(...)`) |
//! | `ast` | the parsed query |
//! | `parser` | tokens → query, by recursive descent |
//! | `translate` | query → one SQL statement with numbered parameters |
//! | `dialect` | what differs between SQLite and PostgreSQL |
//! | `text` | KQL's string matching (`has`, case folding), which each store exposes as SQL functions |
//!
//! Semantics kept from KQL: `==`, `!=` and `in` are case-sensitive; `=~`,
//! `!~`, `in~`, `contains`, `has`, `startswith`, `endswith` are not (their
//! `_cs` forms are); an empty string column equals `""`; `sort` and `top`
//! default to descending; `summarize` names its columns `count_`, `dcount_X`,
//! `max_X`, ...

mod ast;
mod dialect;
mod lexer;
mod parser;
pub mod text;
mod translate;

use jiff::Timestamp;

pub use dialect::Dialect;
pub use parser::SUPPORTED_OPERATORS;
pub use translate::{ChangeWindow, Compiled, Param, SUPPORTED_FUNCTIONS, Source};

/// A query that cannot be run, and where in its text the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct QueryError {
    /// 1-based; the column counts characters.
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The query's line in question, for showing with a caret under it.
    pub source_line: String,
}

impl QueryError {
    pub(crate) fn at(text: &str, offset: usize, message: impl Into<String>) -> QueryError {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        QueryError {
            line: before.matches('\n').count() + 1,
            column: text[line_start..offset].chars().count() + 1,
            message: message.into(),
            source_line: text[line_start..line_end].to_string(),
        }
    }

    /// The message with the offending line and a caret under the spot.
    pub fn render(&self) -> String {
        format!(
            "{self}\n  {}\n  {}^",
            self.source_line,
            " ".repeat(self.column.saturating_sub(1))
        )
    }
}

/// What a column holds, as KQL types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Long,
    Real,
    Bool,
    Datetime,
    Timespan,
    /// Arrays and property bags: JSON text on the agent, `jsonb` on the server.
    Dynamic,
    /// What `parse_version()` gives: a decimal of up to 32 digits, kept as
    /// its fixed-width text so that text order is number order.
    Decimal,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Long => "long",
            Type::Real => "real",
            Type::Bool => "bool",
            Type::Datetime => "datetime",
            Type::Timespan => "timespan",
            Type::Dynamic => "dynamic",
            Type::Decimal => "decimal",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
}

impl Column {
    pub fn new(name: &str, ty: Type) -> Column {
        Column {
            name: name.to_string(),
            ty,
        }
    }
}

/// The tables a query can read, with their visible columns, in the SQL
/// dialect of the store that holds them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    dialect: Dialect,
    tables: Vec<Table>,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// Per column, the SQL that reads it where that is not the bare column
    /// (a text column read as a time, say).
    reads: Vec<Option<String>>,
}

/// Store columns that are bookkeeping, not data.
const HIDDEN_COLUMNS: [&str; 3] = ["RunId", "ItemKey", "StatKey"];

impl Catalog {
    pub fn new(dialect: Dialect) -> Catalog {
        Catalog {
            dialect,
            tables: Vec::new(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Adds a SQLite table from its columns (name, declared type): integers
    /// are longs, times are stored as fixed-width RFC 3339 text, the rest
    /// strings.
    pub fn add_table(&mut self, table: &str, sql_columns: &[(String, String)]) {
        let columns = sql_columns
            .iter()
            .filter(|(name, _)| !HIDDEN_COLUMNS.contains(&name.as_str()))
            .map(|(name, declared)| {
                let ty = if declared.eq_ignore_ascii_case("INTEGER") {
                    Type::Long
                } else if is_time_column(name) {
                    Type::Datetime
                } else {
                    Type::String
                };
                (Column::new(name, ty), None)
            })
            .collect();
        self.add_columns(table, columns);
    }

    /// Adds a table from its visible columns, each with the SQL that reads
    /// it when that is not the column itself.
    pub fn add_columns(&mut self, table: &str, mut columns: Vec<(Column, Option<String>)>) {
        for (name, read) in derived_columns(table, self.dialect) {
            if !columns.iter().any(|(c, _)| c.name == name) {
                columns.push((Column::new(name, Type::String), Some(read)));
            }
        }
        let (columns, reads) = columns.into_iter().unzip();
        self.tables.push(Table {
            name: table.to_string(),
            columns,
            reads,
        });
    }

    pub fn table(&self, name: &str) -> Option<&[Column]> {
        self.find(name).map(|t| t.columns.as_slice())
    }

    fn find(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|t| t.name.as_str()).collect()
    }
}

/// Columns of Azure's tables that the stores do not keep, computed from
/// those they do (`SvcChangeType` from `FieldsChanged`, `Hive` from
/// `RegistryKey`, `Type` is the table's name), or null where nothing here
/// knows them (`SvcController`: the parent process of a daemon; Azure's
/// resource, agent and management group ids), so that queries naming them
/// run.
fn derived_columns(table: &str, dialect: Dialect) -> Vec<(&'static str, String)> {
    let null = dialect.null_of(Type::String).to_string();
    let hives = [
        "HKEY_LOCAL_MACHINE",
        "HKEY_USERS",
        "HKEY_CURRENT_USER",
        "HKEY_CLASSES_ROOT",
        "HKEY_CURRENT_CONFIG",
    ];
    let hive = format!(
        "(CASE {} END)",
        hives
            .iter()
            .map(|h| {
                let under = h.len() + 1;
                format!("WHEN \"RegistryKey\" = '{h}' OR substr(\"RegistryKey\", 1, {under}) = '{h}\\' THEN '{h}'")
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut derived = Vec::new();
    match table {
        "ConfigurationChange" => derived.extend([
            (
                "SvcChangeType",
                "(CASE WHEN \"ConfigChangeType\" IN ('WindowsServices', 'Daemons') AND \"ChangeCategory\" = 'Modified' \
                 THEN replace(\"FieldsChanged\", 'Svc', '') END)"
                    .to_string(),
            ),
            ("SvcController", null.clone()),
            ("SvcPreviousController", null.clone()),
            ("Hive", hive),
        ]),
        "ConfigurationData" => derived.extend([("SvcController", null.clone()), ("Hive", hive)]),
        _ => {}
    }
    derived.push(("Type", format!("CAST('{}' AS TEXT)", table.replace('\'', "''"))));
    for azure_only in ["SourceSystem", "SourceComputerId", "ManagementGroupName", "_ResourceId"] {
        derived.push((azure_only, null.clone()));
    }
    derived
}

/// Whether a column of this name holds a time (`TimeGenerated`,
/// `DateModified`, `InstallDate`, ...), whatever its storage.
pub fn is_time_column(name: &str) -> bool {
    name == "TimeGenerated" || name.contains("Date")
}

/// Parses and translates `text`, reading `source`.
pub fn compile(text: &str, catalog: &Catalog, source: &Source) -> Result<Compiled, QueryError> {
    let query = parser::parse(text)?;
    translate::translate(text, &query, catalog, source)
}

/// Hints about text that is valid KQL but seldom what was meant, for a query
/// that found nothing: verbatim strings with doubled backslashes, which
/// Azure's own examples contain.
pub fn hints(text: &str) -> Vec<String> {
    let Ok(tokens) = lexer::tokenize(text) else {
        return Vec::new();
    };
    tokens
        .iter()
        .filter(|t| matches!(&t.tok, lexer::Tok::Str(s) if s.contains("\\\\")) && text[t.at..].starts_with('@'))
        .map(|t| {
            let at = QueryError::at(text, t.at, "");
            format!(
                "line {}, column {}: in a verbatim string (@\"...\") \\\\ is two backslashes; registry keys \
                 and paths have one: write @\"A\\B\" or \"A\\\\B\"",
                at.line, at.column
            )
        })
        .collect()
}

/// Checks a query without a store: parses it and translates it against the
/// tables' usual columns (manifest validation of alert rules).
pub fn check(text: &str, catalog: &Catalog) -> Result<(), QueryError> {
    compile(
        text,
        catalog,
        &Source {
            change_window: Some(ChangeWindow {
                after: 0,
                upto: 0,
                machine: None,
            }),
            now: Timestamp::now(),
        },
    )
    .map(drop)
}

/// A timespan (microseconds) as Kusto writes one: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn timespan_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    let seconds = micros / 1_000_000;
    let (days, hours, minutes, secs) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    let days = if days > 0 { format!("{days}.") } else { String::new() };
    let fraction = micros % 1_000_000;
    let fraction = if fraction > 0 {
        format!(".{fraction:06}0")
    } else {
        String::new()
    };
    format!("{sign}{days}{hours:02}:{minutes:02}:{secs:02}{fraction}")
}

/// A query's result: its columns and rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Long(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Dynamic(serde_json::Value),
}

impl Cell {
    /// As a JSON value: bools and numbers as such, times as their text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Long(n) => (*n).into(),
            Cell::Real(r) => serde_json::Number::from_f64(*r).map_or(serde_json::Value::Null, Into::into),
            Cell::Bool(b) => (*b).into(),
            Cell::Text(t) => t.clone().into(),
            Cell::Dynamic(value) => value.clone(),
        }
    }

    /// As shown in a table: empty for null.
    pub fn display(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Long(n) => n.to_string(),
            Cell::Real(r) => r.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Dynamic(value) => value.to_string(),
        }
    }
}

impl Cell {
    /// A dynamic value, its bags' properties in name order (the stores
    /// keep them in different orders).
    pub fn dynamic(value: serde_json::Value) -> Cell {
        fn sorted(value: serde_json::Value) -> serde_json::Value {
            match value {
                serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
                serde_json::Value::Object(bag) => {
                    let mut pairs: Vec<(String, serde_json::Value)> = bag.into_iter().collect();
                    pairs.sort_by(|a, b| a.0.cmp(&b.0));
                    serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect())
                }
                other => other,
            }
        }
        Cell::Dynamic(sorted(value))
    }

    /// A cell read from a column of type `ty`: timespans, computed as
    /// microseconds, shown as Kusto shows them.
    pub fn typed(self, ty: Type) -> Cell {
        match (self, ty) {
            (Cell::Long(micros), Type::Timespan) => Cell::Text(timespan_text(micros)),
            (Cell::Text(digits), Type::Decimal) => {
                let shown = digits.trim_start_matches('0');
                Cell::Text(if shown.is_empty() {
                    "0".to_string()
                } else {
                    shown.to_string()
                })
            }
            (Cell::Text(json), Type::Dynamic) => match serde_json::from_str(&json) {
                Ok(value) => Cell::dynamic(value),
                Err(_) => Cell::Text(json),
            },
            (cell, _) => cell,
        }
    }
}

impl QueryResult {
    /// Each row as a JSON object keyed by column name.
    pub fn json_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, cell)| (c.name.clone(), cell.to_json()))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::timespan_text;

    #[test]
    fn timespans_read_as_kusto_writes_them() {
        assert_eq!(timespan_text(0), "00:00:00");
        assert_eq!(timespan_text(90 * 60 * 1_000_000), "01:30:00");
        assert_eq!(timespan_text(2 * 86_400_000_000 + 1_500_000), "2.00:00:01.5000000");
        assert_eq!(timespan_text(-86_400_000_000), "-1.00:00:00");
    }
}
