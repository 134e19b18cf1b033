//! A batch's rows as one array per column. They travel to PostgreSQL as
//! binary parameters and come apart there with `unnest`: one statement per
//! table, no text for the database to parse, and every value checked here
//! against its column on the way in.

use std::time::SystemTime;

use driftwatch_protocol::Columns;
use driftwatch_protocol::columns::Kind;
use serde_json::Value as Json;
use tokio_postgres::types::{ToSql, Type};

enum Values<'a> {
    Text(Vec<Option<&'a str>>),
    Integer(Vec<Option<i64>>),
    Time(Vec<Option<SystemTime>>),
}

/// Rows of one table, column by column.
pub struct Columnar<'a> {
    names: Vec<&'static str>,
    values: Vec<Values<'a>>,
    /// Columns a row may name but whose values are not kept.
    ignored: &'static [&'static str],
    rows: usize,
}

impl<'a> Columnar<'a> {
    /// Empty columns for `table` in its order, without the `ignored` ones
    /// (which rows may still name).
    pub fn new(table: &[(&'static str, Kind)], ignored: &'static [&'static str]) -> Columnar<'a> {
        let kept: Vec<(&'static str, Kind)> = table
            .iter()
            .filter(|(name, _)| !ignored.contains(name))
            .copied()
            .collect();
        Columnar {
            names: kept.iter().map(|(name, _)| *name).collect(),
            values: kept
                .iter()
                .map(|(_, kind)| match kind {
                    Kind::Text => Values::Text(Vec::new()),
                    Kind::Integer => Values::Integer(Vec::new()),
                    Kind::Time => Values::Time(Vec::new()),
                })
                .collect(),
            ignored,
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends `row`: each of its values must be of its column's kind (or
    /// null), columns it does not name are null, `fixed` gives the values
    /// of columns that are not the row's to give, and the `required`
    /// columns must end up non-null. A refused row leaves no trace.
    pub fn push(&mut self, row: &'a Columns, fixed: &[(&str, Cell<'a>)], required: &[&str]) -> Result<(), String> {
        let mut cells: Vec<Cell<'a>> = vec![Cell::Null; self.names.len()];
        for (name, value) in row {
            if self.ignored.contains(&name.as_str()) {
                continue;
            }
            let at = self
                .position(name)
                .filter(|_| !fixed.iter().any(|(f, _)| f == name))
                .ok_or_else(|| format!("unknown column {name:?}"))?;
            cells[at] = self.cell(at, name, value)?;
        }
        for (name, cell) in fixed {
            let at = self.position(name).ok_or_else(|| format!("unknown column {name:?}"))?;
            cells[at] = *cell;
        }
        for name in required {
            if self.position(name).is_none_or(|at| matches!(cells[at], Cell::Null)) {
                return Err(format!("{name} is missing"));
            }
        }
        for (values, cell) in self.values.iter_mut().zip(cells) {
            match (values, cell) {
                (Values::Text(v), Cell::Text(text)) => v.push(Some(text)),
                (Values::Integer(v), Cell::Integer(n)) => v.push(Some(n)),
                (Values::Time(v), Cell::Time(t)) => v.push(Some(t)),
                (Values::Text(v), _) => v.push(None),
                (Values::Integer(v), _) => v.push(None),
                (Values::Time(v), _) => v.push(None),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// `unnest($first::type[], …) AS r("Name", …)`, the columns as a table.
    pub fn unnest(&self, first: usize) -> String {
        let arrays: Vec<String> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, values)| {
                let sql = match values {
                    Values::Text(_) => "text",
                    Values::Integer(_) => "bigint",
                    Values::Time(_) => "timestamptz",
                };
                format!("${}::{sql}[]", first + i)
            })
            .collect();
        format!("unnest({}) AS r({})", arrays.join(", "), self.quoted_names().join(", "))
    }

    /// The column names, quoted for SQL.
    pub fn quoted_names(&self) -> Vec<String> {
        self.names.iter().map(|name| format!("\"{name}\"")).collect()
    }

    /// The arrays, as parameters in the order `unnest` numbers them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|values| match values {
                Values::Text(v) => v as &(dyn ToSql + Sync),
                Values::Integer(v) => v as &(dyn ToSql + Sync),
                Values::Time(v) => v as &(dyn ToSql + Sync),
            })
            .collect()
    }

    /// The PostgreSQL types of the columns, for a binary `COPY`.
    pub fn types(&self) -> Vec<Type> {
        self.values
            .iter()
            .map(|values| match values {
                Values::Text(_) => Type::TEXT,
                Values::Integer(_) => Type::INT8,
                Values::Time(_) => Type::TIMESTAMPTZ,
            })
            .collect()
    }

    /// Row `index`'s values, in column order, into `out`.
    pub fn row<'s>(&'s self, index: usize, out: &mut Vec<&'s (dyn ToSql + Sync)>) {
        out.clear();
        out.extend(self.values.iter().map(|values| match values {
            Values::Text(v) => &v[index] as &(dyn ToSql + Sync),
            Values::Integer(v) => &v[index] as &(dyn ToSql + Sync),
            Values::Time(v) => &v[index] as &(dyn ToSql + Sync),
        }));
    }

    /// The values of an integer column.
    pub fn integers(&self, name: &str) -> Option<&[Option<i64>]> {
        match self.position(name).map(|at| &self.values[at]) {
            Some(Values::Integer(v)) => Some(v),
            _ => None,
        }
    }

    /// The values of a time column.
    pub fn times(&self, name: &str) -> &[Option<SystemTime>] {
        match self.position(name).map(|at| &self.values[at]) {
            Some(Values::Time(v)) => v,
            _ => &[],
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    fn cell(&self, at: usize, name: &str, value: &'a Json) -> Result<Cell<'a>, String> {
        let cell = match (&self.values[at], value) {
            (_, Json::Null) => Some(Cell::Null),
            // PostgreSQL text cannot hold NUL.
            (Values::Text(_), Json::String(text)) => (!text.contains('\0')).then_some(Cell::Text(text)),
            (Values::Integer(_), Json::Number(n)) => n.as_i64().map(Cell::Integer),
            (Values::Time(_), Json::String(text)) => Some(Cell::Time(system_time(parse_timestamp(text)?))),
            _ => None,
        };
        cell.ok_or_else(|| {
            let kind = match self.values[at] {
                Values::Text(_) => "Text",
                Values::Integer(_) => "Integer",
                Values::Time(_) => "Time",
            };
            format!("{name} is not a {kind} value: {value}")
        })
    }
}

/// One value of a row, borrowed from the batch where it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Integer(i64),
    Time(SystemTime),
}

/// An RFC 3339 time within years 1 to 9999 (what PostgreSQL and the
/// monthly partitions hold).
pub fn parse_timestamp(text: &str) -> Result<jiff::Timestamp, String> {
    let timestamp: jiff::Timestamp = text.parse().map_err(|e| format!("{text:?} is not a time: {e}"))?;
    let year = jiff::tz::Offset::UTC.to_datetime(timestamp).date().year();
    if !(1..=9999).contains(&year) {
        return Err(format!("{text:?} is outside years 1 to 9999"));
    }
    Ok(timestamp)
}

/// [`parse_timestamp`] as a `SystemTime`.
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    parse_timestamp(text).map(system_time)
}

fn system_time(timestamp: jiff::Timestamp) -> SystemTime {
    let since_epoch = timestamp.as_duration();
    if since_epoch.is_negative() {
        SystemTime::UNIX_EPOCH - since_epoch.unsigned_abs()
    } else {
        SystemTime::UNIX_EPOCH + since_epoch.unsigned_abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &[(&str, Kind)] = &[
        ("Name", Kind::Text),
        ("Computer", Kind::Text),
        ("Size", Kind::Integer),
        ("When", Kind::Time),
    ];

    fn row(value: Json) -> Columns {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn rows_become_columns_with_nulls_where_a_row_is_silent() {
        let (a, b) = (
            row(json!({"Name": "a", "Size": 1, "Computer": "ignored"})),
            row(json!({"When": "2026-12-02T10:00:00Z"})),
        );
        let mut columns = Columnar::new(TABLE, &["Computer"]);
        columns.push(&a, &[], &["Name"]).unwrap();
        columns.push(&b, &[("Name", Cell::Text("fixed"))], &["Name"]).unwrap();
        assert_eq!(columns.len(), 2);
        assert_eq!(
            columns.unnest(3),
            "unnest($3::text[], $4::bigint[], $5::timestamptz[]) AS r(\"Name\", \"Size\", \"When\")"
        );
        let Values::Text(names) = &columns.values[0] else {
            panic!()
        };
        assert_eq!(names, &[Some("a"), Some("fixed")]);
        let Values::Integer(sizes) = &columns.values[1] else {
            panic!()
        };
        assert_eq!(sizes, &[Some(1), None]);
        let Values::Time(times) = &columns.values[2] else {
            panic!()
        };
        assert_eq!(times[0], None);
        assert_eq!(
            times[1]
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_796_205_600
        );
    }

    #[test]
    fn values_of_the_wrong_kind_unknown_and_missing_columns_are_refused() {
        let cases = [
            (json!({"Name": "a", "Size": "big"}), "Size is not a Integer value"),
            (json!({"Name": "a", "Size": 1.5}), "Size is not a Integer value"),
            (json!({"Name": "a\u{0}b"}), "Name is not a Text value"),
            (json!({"Name": "a", "When": "yesterday"}), "is not a time"),
            (json!({"Name": "a", "When": "10000-01-01T00:00:00Z"}), "is not a time"),
            (json!({"Name": "a", "Password": "x"}), "unknown column \"Password\""),
            (json!({"Size": 1}), "Name is missing"),
            (json!({"Name": null}), "Name is missing"),
        ];
        for (value, expected) in cases {
            let value = row(value);
            let mut columns = Columnar::new(TABLE, &[]);
            let error = columns.push(&value, &[], &["Name"]).unwrap_err();
            assert!(error.contains(expected), "{value:?}: {error}");
            assert!(columns.is_empty(), "nothing of a refused row is kept");
        }
        let value = row(json!({"Name": "a", "Size": 1}));
        let mut columns = Columnar::new(TABLE, &[]);
        let error = columns.push(&value, &[("Size", Cell::Integer(2))], &[]).unwrap_err();
        assert!(
            error.contains("unknown column \"Size\""),
            "a fixed column is not the row's to give: {error}"
        );
    }
}
