//! `union` and `search`. A union's columns are every column of its tables
//! by name (`kind=outer`, the default: null where a table lacks one) or
//! those all of them have (`kind=inner`); `withsource=Name` adds the table
//! each row came from. `search` without a table searches them all, as a
//! union with a `$table` column.

use super::{ORDER, Stage, Translator, quote};
use crate::ast::*;
use crate::{Column, QueryError, Type};

impl Translator<'_> {
    /// `first | union ...` (`first` given) or `union ...`.
    pub(super) fn union(&mut self, first: Option<Stage>, union: &Union) -> Result<Stage, QueryError> {
        let mut parts: Vec<(String, Stage)> = Vec::new();
        if let Some(stage) = first {
            parts.push(("union_arg0".to_string(), stage));
        }
        for table in &union.tables {
            let name = match (&table.source, table.ops.is_empty()) {
                (Source::Name(name), true) => name.name.clone(),
                _ => format!("union_arg{}", parts.len()),
            };
            let stage = self.pipeline(table)?;
            parts.push((name, stage));
        }
        self.union_of(
            parts,
            union.inner,
            union.with_source.as_ref().map(|n| n.name.as_str()),
            union.at,
        )
    }

    fn union_of(
        &mut self,
        parts: Vec<(String, Stage)>,
        inner: bool,
        with_source: Option<&str>,
        at: usize,
    ) -> Result<Stage, QueryError> {
        let mut columns: Vec<Column> = Vec::new();
        for (_, stage) in &parts {
            for column in &stage.columns {
                match columns.iter().find(|c| c.name == column.name) {
                    Some(seen) if seen.ty != column.ty => {
                        return Err(self.error(
                            at,
                            format!(
                                "column '{}' is a {} in one table of the union and a {} in another",
                                column.name,
                                seen.ty.name(),
                                column.ty.name()
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => columns.push(column.clone()),
                }
            }
        }
        if inner {
            columns.retain(|c| parts.iter().all(|(_, stage)| stage.find(&c.name).is_some()));
        }
        if let Some(name) = with_source {
            self.check_new_name(&Name {
                name: name.to_string(),
                at,
            })?;
        }
        if let Some(name) = with_source
            && columns.iter().any(|c| c.name == name)
        {
            return Err(self.error(at, format!("withsource names a column the tables have: '{name}'")));
        }
        let mut selects = Vec::new();
        for (name, stage) in &parts {
            let mut select = Vec::new();
            if let Some(column) = with_source {
                let value = self.bind(crate::Param::Text(name.clone()));
                select.push(format!("{value} AS {}", quote(column)));
            }
            for column in &columns {
                let value = match stage.find(&column.name) {
                    Some(_) => quote(&column.name),
                    None => self.dialect.null_of(column.ty).to_string(),
                };
                select.push(format!("{value} AS {}", quote(&column.name)));
            }
            selects.push(format!("SELECT {} FROM ({}) AS t", select.join(", "), stage.sql));
        }
        if let Some(name) = with_source {
            columns.insert(0, Column::new(name, Type::String));
        }
        Ok(Stage {
            sql: selects.join(" UNION ALL "),
            columns,
            ordered: false,
        })
    }

    /// `evaluate narrow()`: for each row (numbered from 0, in the rows'
    /// order where they were sorted, else in the order of all their
    /// columns) a row per column: `Row`, `Column`, `Value` (as text).
    pub(super) fn narrow(&mut self, stage: Stage) -> Stage {
        let order = if stage.ordered {
            ORDER.to_string()
        } else {
            self.every_column_order(&stage.columns)
        };
        let numbered = format!(
            "SELECT *, ROW_NUMBER() OVER (ORDER BY {order}) - 1 AS __row FROM ({}) AS t",
            stage.sql
        );
        // One pass over the rows, each joined with the column numbers.
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (i, column) in stage.columns.iter().enumerate() {
            let name = self.bind(crate::Param::Text(column.name.clone()));
            let typed = super::Typed::sql(column.ty, quote(&column.name));
            let value = self.as_text(&typed);
            names.push(format!(" WHEN {i} THEN {name}"));
            values.push(format!(" WHEN {i} THEN {value}"));
        }
        let numbers: Vec<String> = (0..stage.columns.len().max(1))
            .map(|i| format!("SELECT {i} AS __c"))
            .collect();
        let sql = format!(
            "SELECT CAST(__row AS BIGINT) AS \"Row\", (CASE c.__c{} END) AS \"Column\", (CASE c.__c{} END) AS \"Value\", \
             ROW_NUMBER() OVER (ORDER BY __row, c.__c) AS {ORDER} FROM ({numbered}) AS t CROSS JOIN ({}) AS c",
            names.concat(),
            values.concat(),
            numbers.join(" UNION ALL ")
        );
        Stage {
            sql,
            columns: vec![
                Column::new("Row", Type::Long),
                Column::new("Column", Type::String),
                Column::new("Value", Type::String),
            ],
            ordered: true,
        }
    }

    /// `search` at the start of a query: over the tables named, or all.
    pub(super) fn search_tables(&mut self, search: &Search) -> Result<Stage, QueryError> {
        let names: Vec<Name> = if search.tables.is_empty() {
            let catalog = self.catalog;
            catalog
                .table_names()
                .into_iter()
                .map(|name| Name {
                    name: name.to_string(),
                    at: search.at,
                })
                .collect()
        } else {
            search.tables.clone()
        };
        let mut parts = Vec::new();
        for name in &names {
            let stage = self.named_table(name)?;
            parts.push((name.name.clone(), stage));
        }
        let all = self.union_of(parts, false, Some("$table"), search.at)?;
        self.search(all, search)
    }

    /// `search predicate` over a stage: a `where` in which a bare string
    /// is a term some string column has (`*` in it: contains).
    pub(super) fn search(&mut self, stage: Stage, search: &Search) -> Result<Stage, QueryError> {
        let text_columns: Vec<&str> = stage
            .columns
            .iter()
            .filter(|c| c.ty == Type::String)
            .map(|c| c.name.as_str())
            .collect();
        let predicate = with_terms(&search.predicate, &text_columns, search.case_sensitive);
        self.operator(stage, &Op::Where(predicate))
    }
}

/// `predicate` with each bare term spelled out over `columns`: a term
/// alone matches whole terms (`has`), with `*` at its ends it is contained,
/// with `*` inside it is a wildcard pattern.
fn with_terms(expr: &Expr, columns: &[&str], case_sensitive: bool) -> Expr {
    let kind = match &expr.kind {
        ExprKind::SearchTerm(term) => {
            let at = expr.at;
            let inner = term.trim_matches('*');
            let literal = |text: String| {
                Box::new(Expr {
                    kind: ExprKind::Literal(Literal::Str(text)),
                    at,
                })
            };
            let tests = columns.iter().map(|column| {
                let subject = Box::new(Expr {
                    kind: ExprKind::Column(column.to_string()),
                    at,
                });
                let kind = if inner.contains('*') {
                    let parts: Vec<String> = inner.split('*').map(super::regex::escape).collect();
                    let flags = if case_sensitive { "" } else { "(?i)" };
                    ExprKind::Matches {
                        subject,
                        pattern: literal(format!("{flags}{}", parts.join(".*"))),
                    }
                } else {
                    ExprKind::Text {
                        op: if inner.len() == term.len() {
                            TextOp::Has
                        } else {
                            TextOp::Contains
                        },
                        negated: false,
                        case_sensitive,
                        subject,
                        pattern: literal(inner.to_string()),
                    }
                };
                Expr { at, kind }
            });
            return tests
                .reduce(|a, b| Expr {
                    at,
                    kind: ExprKind::Binary(BinaryOp::Or, Box::new(a), Box::new(b)),
                })
                .unwrap_or(Expr {
                    kind: ExprKind::Literal(Literal::Bool(false)),
                    at,
                });
        }
        ExprKind::Binary(op, left, right) => ExprKind::Binary(
            *op,
            Box::new(with_terms(left, columns, case_sensitive)),
            Box::new(with_terms(right, columns, case_sensitive)),
        ),
        ExprKind::Call(name, args) => ExprKind::Call(
            name.clone(),
            args.iter().map(|a| with_terms(a, columns, case_sensitive)).collect(),
        ),
        other => other.clone(),
    };
    Expr { kind, at: expr.at }
}
