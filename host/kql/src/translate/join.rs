//! `join` and `lookup`. Each side is wrapped with its key values as
//! hidden columns (`__k1`, ...), so that the join is on plain columns
//! (SQLite indexes those on the fly) and a string key treats null as the
//! empty string, as KQL does.
//!
//! Kusto's default kind, `innerunique`, keeps one left row per key before
//! joining; which one is unspecified there, here the first in the order of
//! all its columns, so that both stores answer alike.

use super::{Stage, Translator, quote, select_list};
use crate::ast::*;
use crate::{Column, QueryError, Type};

impl Translator<'_> {
    pub(super) fn join(
        &mut self,
        left: Stage,
        kind: JoinKind,
        right: &Pipeline,
        on: &[JoinKey],
        at: usize,
    ) -> Result<Stage, QueryError> {
        let (right, left_sql, right_sql) = self.sides(&left, right, on, kind == JoinKind::InnerUnique)?;
        let condition = key_condition(on.len());
        let (sql, columns) = match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::RightSemi | JoinKind::RightAnti => {
                let keep_left = matches!(kind, JoinKind::LeftSemi | JoinKind::LeftAnti);
                let not = if matches!(kind, JoinKind::LeftAnti | JoinKind::RightAnti) {
                    "NOT "
                } else {
                    ""
                };
                let (kept, kept_sql, other_sql, alias) = if keep_left {
                    (&left, &left_sql, &right_sql, "l")
                } else {
                    (&right, &right_sql, &left_sql, "r")
                };
                let other_alias = if keep_left { "r" } else { "l" };
                let select: Vec<String> = kept
                    .columns
                    .iter()
                    .map(|c| format!("{alias}.{}", quote(&c.name)))
                    .collect();
                let sql = format!(
                    "SELECT {} FROM ({kept_sql}) AS {alias} WHERE {not}EXISTS (SELECT 1 FROM ({other_sql}) AS {other_alias} \
                     WHERE {condition})",
                    select.join(", ")
                );
                (sql, kept.columns.clone())
            }
            _ => {
                let join = match kind {
                    JoinKind::LeftOuter => "LEFT JOIN",
                    JoinKind::RightOuter => "RIGHT JOIN",
                    JoinKind::FullOuter => "FULL JOIN",
                    _ => "JOIN",
                };
                let (select, columns) = both_sides(&left, &right, &[]);
                let sql = format!(
                    "SELECT {} FROM ({left_sql}) AS l {join} ({right_sql}) AS r ON {condition}",
                    select.join(", ")
                );
                (sql, columns)
            }
        };
        self.check_unique(&columns, at)?;
        Ok(Stage {
            sql,
            columns,
            ordered: false,
        })
    }

    /// `lookup`: every left row (`kind=leftouter`, the default) or those
    /// that match (`inner`), with the right side's columns but its keys.
    pub(super) fn lookup(
        &mut self,
        left: Stage,
        inner: bool,
        right: &Pipeline,
        on: &[JoinKey],
        at: usize,
    ) -> Result<Stage, QueryError> {
        let (right, left_sql, right_sql) = self.sides(&left, right, on, false)?;
        let right_key_names: Vec<&str> = on.iter().map(|k| k.right.name.as_str()).collect();
        let (select, columns) = both_sides(&left, &right, &right_key_names);
        let join = if inner { "JOIN" } else { "LEFT JOIN" };
        let sql = format!(
            "SELECT {} FROM ({left_sql}) AS l {join} ({right_sql}) AS r ON {}",
            select.join(", "),
            key_condition(on.len())
        );
        self.check_unique(&columns, at)?;
        Ok(Stage {
            sql,
            columns,
            ordered: false,
        })
    }

    /// The right side, and both sides' SQL with their keys (the left one
    /// row per key when `unique`).
    fn sides(
        &mut self,
        left: &Stage,
        right: &Pipeline,
        on: &[JoinKey],
        unique: bool,
    ) -> Result<(Stage, String, String), QueryError> {
        let right = self.pipeline(right)?;
        let (left_keys, right_keys) = self.join_keys(left, &right, on)?;
        let left_sql = keyed(left, &left_keys, unique, self);
        let right_sql = keyed(&right, &right_keys, false, self);
        Ok((right, left_sql, right_sql))
    }

    /// The SQL of each key on each side, checked: both columns exist and
    /// have the same type.
    fn join_keys(&self, left: &Stage, right: &Stage, on: &[JoinKey]) -> Result<(Vec<String>, Vec<String>), QueryError> {
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for key in on {
            let Some(l) = left.find(&key.left.name) else {
                return Err(self.unknown_column(left, &key.left.name, key.left.at));
            };
            let Some(r) = right.find(&key.right.name) else {
                return Err(self.unknown_column(right, &key.right.name, key.right.at));
            };
            let numeric = |t: Type| matches!(t, Type::Long | Type::Real);
            if l.ty != r.ty && !(numeric(l.ty) && numeric(r.ty)) {
                return Err(self.error(
                    key.right.at,
                    format!(
                        "join keys differ in type: '{}' is a {} and '{}' a {}",
                        l.name,
                        l.ty.name(),
                        r.name,
                        r.ty.name()
                    ),
                ));
            }
            let value = |c: &Column| {
                if c.ty == Type::String {
                    format!("COALESCE({}, '')", quote(&c.name))
                } else {
                    quote(&c.name)
                }
            };
            left_keys.push(value(l));
            right_keys.push(value(r));
        }
        Ok((left_keys, right_keys))
    }
}

/// A side's visible columns and its keys as `__k1`, `__k2`, ...; with
/// `unique`, one row per key (the first in the order of all its columns).
fn keyed(stage: &Stage, keys: &[String], unique: bool, t: &Translator<'_>) -> String {
    let columns = select_list(&stage.columns);
    let key_list: Vec<String> = keys.iter().zip(1..).map(|(k, i)| format!("{k} AS __k{i}")).collect();
    let with_keys = format!("{columns}, {}", key_list.join(", "));
    if !unique {
        return format!("SELECT {with_keys} FROM ({}) AS t", stage.sql);
    }
    let order = t.every_column_order(&stage.columns);
    format!(
        "SELECT {columns}, {} FROM (SELECT {with_keys}, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS __u \
         FROM ({}) AS t) AS t WHERE __u = 1",
        (1..=keys.len())
            .map(|i| format!("__k{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        keys.join(", "),
        order,
        stage.sql
    )
}

fn key_condition(count: usize) -> String {
    (1..=count)
        .map(|i| format!("l.__k{i} = r.__k{i}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The left side's columns, then the right side's but those in `skip`; a
/// right column whose name is taken gets the first free of `Name1`,
/// `Name2`, ..., as Kusto names them.
fn both_sides(left: &Stage, right: &Stage, skip: &[&str]) -> (Vec<String>, Vec<Column>) {
    let mut select: Vec<String> = left.columns.iter().map(|c| format!("l.{}", quote(&c.name))).collect();
    let mut columns = left.columns.clone();
    for column in right.columns.iter().filter(|c| !skip.contains(&c.name.as_str())) {
        let mut name = column.name.clone();
        let mut n = 1;
        while columns.iter().any(|c| c.name == name) {
            name = format!("{}{n}", column.name);
            n += 1;
        }
        select.push(format!("r.{} AS {}", quote(&column.name), quote(&name)));
        columns.push(Column::new(&name, column.ty));
    }
    (select, columns)
}
