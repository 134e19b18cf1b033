//! [`Query`] → one parameterised SQL statement.
//!
//! Each tabular operator wraps the statement so far as a subquery
//! (`SELECT ... FROM (previous) AS t ...`); SQLite and PostgreSQL flatten the
//! nesting, so a `where` on an indexed column still uses its index. Every literal becomes a
//! numbered parameter: nothing from the query text is pasted into the SQL but
//! column names checked against the table and fixed keywords.
//!
//! An order set by `sort` or `top` travels as a hidden column, [`ORDER`],
//! which later operators keep and the final statement sorts by; operators
//! that regroup rows (`summarize`, `distinct`, `count`, `join`, `union`)
//! drop it.
//!
//! `let` statements are inlined where their names are used (see `scope`);
//! `join`, `lookup`, `union` and `search` are in their own modules.

mod dynamic;
mod join;
mod regex;
mod scope;
mod time;
mod union;

use jiff::{SignedDuration, Timestamp};

use crate::ast::*;
use crate::{Catalog, Column, Dialect, QueryError, Type};

const ORDER: &str = "__order";

pub const SUPPORTED_FUNCTIONS: &str = "ago, now, datetime, dynamic, tostring, isempty, isnotempty, isnull, isnotnull, \
     not, strlen, tolower, toupper, iff, iif, case, strcat, coalesce, replace_string, toscalar, bin, floor, \
     startofday, startofweek, startofmonth, startofyear, endofday, endofweek, hourofday, dayofweek, dayofmonth, \
     getmonth, monthofyear, getyear, datetime_diff, format_datetime, round, tolong, toint, todouble, toreal, \
     pack, bag_pack, pack_array, parse_json, todynamic, split, strcat_array, array_length, array_slice, extract, \
     replace_regex, replace, parse_version";

const AGGREGATIONS: &str = "count, countif, dcount, min, max, sum, avg, arg_max, arg_min, any, take_any, \
     make_set, make_list, makeset, makelist";

/// A translated query, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    /// Parameter `N` of the statement is `params[N - 1]`.
    pub params: Vec<Param>,
    pub columns: Vec<Column>,
    /// The chart a final `render` asks for (`timechart`, `piechart`, ...).
    pub render: Option<String>,
}

/// The longest statement a query may expand to (`let` names are inlined
/// where used, so a few lines can otherwise grow without bound), and the
/// most parameters one statement may bind (PostgreSQL's limit).
const MAX_SQL_LEN: usize = 4 << 20;
const MAX_PARAMS: usize = 65_535;

/// A value bound to a statement; each store maps these to its own types.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Long(i64),
    Real(f64),
    Bool(bool),
    Time(Timestamp),
}

/// The rows a query reads: a table, optionally only changes in a window of
/// `ChangeId`s — how alert rules see new changes.
pub struct Source {
    pub change_window: Option<ChangeWindow>,
    pub now: Timestamp,
}

/// Changes after `after`, up to and including `upto`; on the fleet server,
/// of one machine (its `machine_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    pub after: i64,
    pub upto: i64,
    pub machine: Option<i64>,
}

pub fn translate(text: &str, query: &Query, catalog: &Catalog, source: &Source) -> Result<Compiled, QueryError> {
    let mut t = Translator {
        text,
        dialect: catalog.dialect(),
        catalog,
        window: source.change_window,
        params: Vec::new(),
        now: source.now,
        auto_names: 0,
        scope: Vec::new(),
        read_changes: false,
        inlined: 0,
        pipelines: 0,
    };
    t.bind_lets(&query.lets)?;
    let stage = t.pipeline(&query.body)?;
    if t.window.is_some() && !t.read_changes {
        return Err(t.error(query.body_at(), "alert rules query ConfigurationChange"));
    }
    let sql = format!(
        "SELECT {} FROM ({}) AS t{}",
        select_list(&stage.columns),
        stage.sql,
        if stage.ordered {
            format!(" ORDER BY {ORDER}")
        } else {
            String::new()
        }
    );
    let render = query.body.ops.iter().find_map(|op| match op {
        Op::Render(chart) => Some(chart.name.clone()),
        _ => None,
    });
    Ok(Compiled {
        sql,
        params: t.params,
        columns: stage.columns,
        render,
    })
}

impl Query {
    /// Where the query's body starts.
    fn body_at(&self) -> usize {
        self.body.source.at()
    }
}

impl crate::ast::Source {
    pub(crate) fn at(&self) -> usize {
        match self {
            crate::ast::Source::Name(name) | crate::ast::Source::Call(name, _) => name.at,
            crate::ast::Source::Union(union) => union.at,
            crate::ast::Source::Search(search) => search.at,
            crate::ast::Source::Nested(pipeline) => pipeline.source.at(),
        }
    }
}

/// The statement so far and the columns it yields.
struct Stage {
    sql: String,
    columns: Vec<Column>,
    /// Whether it carries the hidden [`ORDER`] column.
    ordered: bool,
}

impl Stage {
    fn find(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The visible columns, plus the order column when there is one.
    fn select_all(&self) -> String {
        let mut list = select_list(&self.columns);
        if self.ordered {
            list.push_str(", ");
            list.push_str(ORDER);
        }
        list
    }

    /// A stage selecting `select` (yielding `columns`) from this one, keeping its order.
    fn reselect(&self, mut select: Vec<String>, columns: Vec<Column>) -> Stage {
        if self.ordered {
            select.push(ORDER.into());
        }
        Stage {
            sql: self.wrap(&select.join(", "), ""),
            columns,
            ordered: self.ordered,
        }
    }

    fn wrap(&self, select: &str, tail: &str) -> String {
        format!("SELECT {select} FROM ({}) AS t{tail}", self.sql)
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn select_list(columns: &[Column]) -> String {
    columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ")
}

impl Translator<'_> {
    /// An `ORDER BY` list of every column, nulls last and strings by their
    /// bytes, so that rows Kusto leaves in no order (ties of `arg_max`,
    /// `innerunique`'s pick, `narrow`'s row numbers) come out alike on
    /// both stores. Dynamic columns are left out: the stores order them
    /// differently. `1` when nothing is left.
    fn every_column_order(&self, columns: &[Column]) -> String {
        let order: Vec<String> = columns
            .iter()
            .filter(|c| c.ty != Type::Dynamic)
            .map(|c| {
                let q = quote(&c.name);
                format!("({q} IS NULL), {q}{}", self.dialect.ordinal(c.ty == Type::String))
            })
            .collect();
        if order.is_empty() {
            "1".to_string()
        } else {
            order.join(", ")
        }
    }
}

/// A translated expression: SQL text, or a constant folded at translation
/// time (bound as a parameter where it is used).
#[derive(Debug, Clone)]
struct Typed {
    ty: Type,
    value: Val,
}

#[derive(Debug, Clone)]
enum Val {
    Sql(String),
    Const(Const),
}

#[derive(Debug, Clone)]
enum Const {
    Str(String),
    Long(i64),
    Real(f64),
    Bool(bool),
    Datetime(Timestamp),
    Timespan(i64),
    Dynamic(serde_json::Value),
}

impl Typed {
    fn sql(ty: Type, sql: String) -> Typed {
        Typed {
            ty,
            value: Val::Sql(sql),
        }
    }

    fn constant(c: Const) -> Typed {
        let ty = match &c {
            Const::Str(_) => Type::String,
            Const::Long(_) => Type::Long,
            Const::Real(_) => Type::Real,
            Const::Bool(_) => Type::Bool,
            Const::Datetime(_) => Type::Datetime,
            Const::Timespan(_) => Type::Timespan,
            Const::Dynamic(_) => Type::Dynamic,
        };
        Typed {
            ty,
            value: Val::Const(c),
        }
    }

    fn as_const(&self) -> Option<&Const> {
        match &self.value {
            Val::Const(c) => Some(c),
            Val::Sql(_) => None,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self.ty, Type::Long | Type::Real)
    }
}

struct Translator<'a> {
    text: &'a str,
    dialect: Dialect,
    catalog: &'a Catalog,
    window: Option<ChangeWindow>,
    params: Vec<Param>,
    now: Timestamp,
    /// Names given so far to unnamed computed columns (`Column1`, ...).
    auto_names: usize,
    /// What `let` statements and function parameters have bound, latest last.
    scope: Vec<(String, scope::Binding)>,
    /// Whether `ConfigurationChange` was read (alert rules must).
    read_changes: bool,
    /// How many `let` bodies and functions are being translated inside
    /// one another, and how many pipelines (a `toscalar` nests one).
    inlined: usize,
    pipelines: usize,
}

impl Translator<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> QueryError {
        QueryError::at(self.text, at, message)
    }

    fn bind(&mut self, value: Param) -> String {
        let placeholder = self.dialect.placeholder(self.params.len() + 1, &value);
        self.params.push(value);
        placeholder
    }

    /// The SQL for an expression, binding a constant as a parameter.
    fn emit(&mut self, typed: &Typed) -> String {
        match &typed.value {
            Val::Sql(sql) => sql.clone(),
            Val::Const(Const::Dynamic(value)) => {
                let text = self.bind(Param::Text(value.to_string()));
                self.dialect.json_of_text(&text)
            }
            Val::Const(c) => {
                let value = match c {
                    Const::Str(s) => Param::Text(s.clone()),
                    Const::Long(n) | Const::Timespan(n) => Param::Long(*n),
                    Const::Real(r) => Param::Real(*r),
                    Const::Bool(b) => Param::Bool(*b),
                    Const::Datetime(ts) => Param::Time(*ts),
                    Const::Dynamic(_) => unreachable!("bound above"),
                };
                self.bind(value)
            }
        }
    }

    /// An operand as text, as KQL's string functions see it: null is the
    /// empty string, other types their text.
    fn emit_text(&mut self, typed: &Typed) -> String {
        let sql = self.emit(typed);
        match &typed.value {
            Val::Const(_) if typed.ty == Type::String => sql,
            _ => format!("COALESCE({}, '')", self.dialect.text_of(&sql, typed.ty)),
        }
    }

    /// Reads a table of the catalog; in an alert rule's window, changes
    /// only in that window, and on the fleet server one machine's rows.
    fn base(&mut self, table: &Name) -> Result<Stage, QueryError> {
        let catalog = self.catalog;
        let Some(found) = catalog.find(&table.name) else {
            return Err(self.error(
                table.at,
                format!(
                    "unknown table '{}'; tables: {}",
                    table.name,
                    catalog.table_names().join(", ")
                ),
            ));
        };
        let columns = found.columns.clone();
        let reads: Vec<String> = columns
            .iter()
            .zip(&found.reads)
            .map(|(column, read)| match read {
                Some(sql) => format!("{sql} AS {}", quote(&column.name)),
                None => quote(&column.name),
            })
            .collect();
        let mut sql = format!("SELECT {} FROM {}", reads.join(", "), quote(&table.name));
        let is_changes = table.name == "ConfigurationChange";
        self.read_changes |= is_changes;
        if let Some(window) = self.window {
            let mut conditions = Vec::new();
            if is_changes {
                let after = self.bind(Param::Long(window.after));
                let upto = self.bind(Param::Long(window.upto));
                conditions.push(format!("\"ChangeId\" > {after} AND \"ChangeId\" <= {upto}"));
            }
            if let Some(machine) = window.machine {
                let machine = self.bind(Param::Long(machine));
                conditions.push(format!("machine_id = {machine}"));
            }
            if !conditions.is_empty() {
                sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
            }
        }
        Ok(Stage {
            sql,
            columns,
            ordered: false,
        })
    }

    /// A pipeline: its source, then each operator in turn.
    fn pipeline(&mut self, pipeline: &Pipeline) -> Result<Stage, QueryError> {
        self.pipelines += 1;
        let stage = self.pipeline_ops(pipeline);
        self.pipelines -= 1;
        stage
    }

    fn pipeline_ops(&mut self, pipeline: &Pipeline) -> Result<Stage, QueryError> {
        let mut stage = self.source(&pipeline.source)?;
        for op in &pipeline.ops {
            stage = self.operator(stage, op)?;
            self.check_size(&stage, pipeline.source.at())?;
        }
        Ok(stage)
    }

    fn check_size(&self, stage: &Stage, at: usize) -> Result<(), QueryError> {
        if stage.sql.len() > MAX_SQL_LEN || self.params.len() > MAX_PARAMS {
            return Err(self.error(
                at,
                "the query expands to too large a statement (its let names are repeated where they are used)",
            ));
        }
        Ok(())
    }

    fn source(&mut self, source: &crate::ast::Source) -> Result<Stage, QueryError> {
        use crate::ast::Source as From;
        let stage = match source {
            From::Name(name) => self.named_table(name)?,
            From::Call(name, args) => self.tabular_call(name, args)?,
            From::Union(union) => self.union(None, union)?,
            From::Search(search) => self.search_tables(search)?,
            From::Nested(pipeline) => self.pipeline(pipeline)?,
        };
        self.check_size(&stage, source.at())?;
        Ok(stage)
    }

    fn operator(&mut self, stage: Stage, op: &Op) -> Result<Stage, QueryError> {
        match op {
            Op::Where(condition) => {
                let cond = self.expr(condition, &stage)?;
                if cond.ty != Type::Bool {
                    return Err(self.error(condition.at, "'where' needs a condition (true or false)"));
                }
                let cond = self.emit(&cond);
                Ok(Stage {
                    sql: stage.wrap(&stage.select_all(), &format!(" WHERE {cond}")),
                    ..stage
                })
            }
            Op::Project(items) => self.project(stage, items),
            Op::Extend(items) => items.iter().try_fold(stage, |stage, item| self.extend(stage, item)),
            Op::ProjectAway(patterns) => {
                let mut keep = vec![true; stage.columns.len()];
                for pattern in patterns {
                    let mut matched = false;
                    for (i, column) in stage.columns.iter().enumerate() {
                        if wildcard_match(&pattern.pattern, &column.name) {
                            keep[i] = false;
                            matched = true;
                        }
                    }
                    if !matched {
                        return Err(self.error(pattern.at, format!("no column matches '{}'", pattern.pattern)));
                    }
                }
                let columns: Vec<Column> = stage
                    .columns
                    .iter()
                    .zip(keep)
                    .filter(|(_, keep)| *keep)
                    .map(|(c, _)| c.clone())
                    .collect();
                let select = columns.iter().map(|c| quote(&c.name)).collect();
                Ok(stage.reselect(select, columns))
            }
            Op::ProjectRename(pairs) => {
                let mut columns = stage.columns.clone();
                let mut select = Vec::new();
                for column in &mut columns {
                    let renamed = pairs.iter().find(|(_, old)| old.name == column.name);
                    match renamed {
                        Some((new, _)) => {
                            self.check_new_name(new)?;
                            select.push(format!("{} AS {}", quote(&column.name), quote(&new.name)));
                            column.name = new.name.clone();
                        }
                        None => select.push(quote(&column.name)),
                    }
                }
                for (_, old) in pairs {
                    if stage.find(&old.name).is_none() {
                        return Err(self.unknown_column(&stage, &old.name, old.at));
                    }
                }
                self.check_unique(&columns, pairs.first().map_or(0, |(n, _)| n.at))?;
                Ok(stage.reselect(select, columns))
            }
            Op::Summarize { aggregates, by } => self.summarize(stage, aggregates, by),
            Op::Sort(keys) => self.sort(stage, keys, None),
            Op::Top { count, key } => self.sort(stage, std::slice::from_ref(key), Some(*count)),
            Op::Take(count) => {
                let limit = self.bind(Param::Long(*count));
                let order = if stage.ordered {
                    format!(" ORDER BY {ORDER}")
                } else {
                    String::new()
                };
                Ok(Stage {
                    sql: stage.wrap(&stage.select_all(), &format!("{order} LIMIT {limit}")),
                    ..stage
                })
            }
            Op::Distinct(names) => {
                let columns = if names.is_empty() {
                    stage.columns.clone()
                } else {
                    names
                        .iter()
                        .map(|n| {
                            stage
                                .find(&n.name)
                                .cloned()
                                .ok_or_else(|| self.unknown_column(&stage, &n.name, n.at))
                        })
                        .collect::<Result<_, _>>()?
                };
                Ok(Stage {
                    sql: stage.wrap(&format!("DISTINCT {}", select_list(&columns)), ""),
                    columns,
                    ordered: false,
                })
            }
            Op::Count => Ok(Stage {
                sql: stage.wrap("COUNT(*) AS \"Count\"", ""),
                columns: vec![Column::new("Count", Type::Long)],
                ordered: false,
            }),
            Op::Join { kind, right, on, at } => self.join(stage, *kind, right, on, *at),
            Op::Lookup { inner, right, on, at } => self.lookup(stage, *inner, right, on, *at),
            Op::Union(union) => self.union(Some(stage), union),
            Op::Search(search) => self.search(stage, search),
            Op::MvExpand { column, to } => self.mv_expand(stage, column, to.as_ref()),
            Op::Parse { column, pieces } => self.parse_columns(stage, column, pieces),
            Op::Narrow => Ok(self.narrow(stage)),
            // Drawn by whoever shows the result; the rows are the same.
            Op::Render(_) => Ok(stage),
        }
    }

    fn check_new_name(&self, name: &Name) -> Result<(), QueryError> {
        if name.name.starts_with("__") {
            return Err(self.error(name.at, "column names starting with '__' are reserved"));
        }
        Ok(())
    }

    fn check_unique(&self, columns: &[Column], at: usize) -> Result<(), QueryError> {
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) {
                return Err(self.error(at, format!("column '{}' appears twice", column.name)));
            }
        }
        Ok(())
    }

    /// What an assignment's column is called: its name, the column it
    /// copies, or `Column1`, `Column2`, ...
    fn output_name(&mut self, item: &Assignment) -> Result<String, QueryError> {
        if let Some(name) = &item.name {
            self.check_new_name(name)?;
            return Ok(name.name.clone());
        }
        if let ExprKind::Column(column) = &item.expr.kind {
            return Ok(column.clone());
        }
        self.auto_names += 1;
        Ok(format!("Column{}", self.auto_names))
    }

    fn project(&mut self, stage: Stage, items: &[Assignment]) -> Result<Stage, QueryError> {
        let mut select = Vec::new();
        let mut columns = Vec::new();
        for item in items {
            let typed = self.expr(&item.expr, &stage)?;
            let name = self.output_name(item)?;
            let sql = self.emit(&typed);
            select.push(format!("{sql} AS {}", quote(&name)));
            columns.push(Column::new(&name, typed.ty));
            self.check_unique(&columns, item.expr.at)?;
        }
        Ok(stage.reselect(select, columns))
    }

    /// One `extend` item: replaces a column of that name in place, or adds one.
    fn extend(&mut self, stage: Stage, item: &Assignment) -> Result<Stage, QueryError> {
        let name = self.output_name(item)?;
        self.extend_named(stage, &name, &item.expr)
    }

    /// Adds (or replaces) column `name` computed by `expr`; `name` is not
    /// checked (hidden names are made this way).
    fn extend_named(&mut self, stage: Stage, name: &str, expr: &Expr) -> Result<Stage, QueryError> {
        let name = name.to_string();
        let typed = self.expr(expr, &stage)?;
        let sql = format!("{} AS {}", self.emit(&typed), quote(&name));
        let mut select: Vec<String> = Vec::new();
        let mut columns = stage.columns.clone();
        let mut replaced = false;
        for column in &mut columns {
            if column.name == name {
                select.push(sql.clone());
                column.ty = typed.ty;
                replaced = true;
            } else {
                select.push(quote(&column.name));
            }
        }
        if !replaced {
            select.push(sql);
            columns.push(Column::new(&name, typed.ty));
        }
        Ok(stage.reselect(select, columns))
    }

    fn sort(&mut self, stage: Stage, keys: &[SortKey], limit: Option<i64>) -> Result<Stage, QueryError> {
        let mut order = Vec::new();
        for key in keys {
            let typed = self.expr(&key.expr, &stage)?;
            let sql = self.emit(&typed);
            let direction = if key.descending { "DESC" } else { "ASC" };
            let nulls = match key.nulls_first {
                Some(true) => " NULLS FIRST",
                Some(false) => " NULLS LAST",
                None => self.dialect.default_nulls(key.descending),
            };
            let ordinal = self.dialect.ordinal(typed.ty == Type::String);
            order.push(format!("{sql}{ordinal} {direction}{nulls}"));
        }
        let select = format!(
            "{}, ROW_NUMBER() OVER (ORDER BY {}) AS {ORDER}",
            select_list(&stage.columns),
            order.join(", ")
        );
        let tail = match limit {
            Some(n) => format!(" ORDER BY {ORDER} LIMIT {}", self.bind(Param::Long(n))),
            None => String::new(),
        };
        Ok(Stage {
            sql: stage.wrap(&select, &tail),
            columns: stage.columns,
            ordered: true,
        })
    }

    fn summarize(&mut self, stage: Stage, aggregates: &[Aggregate], by: &[Assignment]) -> Result<Stage, QueryError> {
        // Computed group keys become columns first, so that grouping is by
        // name; one named like a column it is computed from (`by
        // bin(TimeGenerated, 1h)` is named TimeGenerated, as in Kusto) is
        // computed under a hidden name, so that the aggregations still see
        // the column.
        let mut stage = stage;
        // (name in the stage, name in the result)
        let mut keys: Vec<(String, String)> = Vec::new();
        for item in by {
            match (&item.name, &item.expr.kind) {
                (None, ExprKind::Column(name)) => {
                    if stage.find(name).is_none() {
                        return Err(self.unknown_column(&stage, name, item.expr.at));
                    }
                    keys.push((name.clone(), name.clone()));
                }
                _ => {
                    let name = match (&item.name, &item.expr.kind) {
                        (None, ExprKind::Call(_, args)) => match args.first().map(|a| &a.kind) {
                            Some(ExprKind::Column(column)) => column.clone(),
                            _ => self.output_name(item)?,
                        },
                        _ => self.output_name(item)?,
                    };
                    let hidden = if stage.find(&name).is_some() {
                        format!("__by{}", keys.len() + 1)
                    } else {
                        name.clone()
                    };
                    self.check_new_name(&Name {
                        name: name.clone(),
                        at: item.expr.at,
                    })?;
                    stage = self.extend_named(stage, &hidden, &item.expr)?;
                    keys.push((hidden, name));
                }
            }
        }
        if let Some(arg) = aggregates
            .iter()
            .find(|a| matches!(a.function.name.as_str(), "arg_max" | "arg_min"))
        {
            if aggregates.len() > 1 {
                return Err(self.error(
                    arg.function.at,
                    format!("{} must be the only aggregation of its summarize", arg.function.name),
                ));
            }
            let key_columns: Vec<(Column, String)> = keys
                .iter()
                .filter_map(|(k, outer)| stage.find(k).cloned().map(|c| (c, outer.clone())))
                .collect();
            return self.arg_extreme(stage, arg, key_columns);
        }
        let mut select = Vec::new();
        let mut columns = Vec::new();
        for (inner, outer) in &keys {
            let ty = stage.find(inner).map_or(Type::String, |c| c.ty);
            select.push(format!("{} AS {}", quote(inner), quote(outer)));
            columns.push(Column::new(outer, ty));
        }
        for aggregate in aggregates {
            let (sql, column) = self.aggregation(&stage, aggregate)?;
            select.push(format!("{sql} AS {}", quote(&column.name)));
            columns.push(column);
            self.check_unique(&columns, aggregate.function.at)?;
        }
        self.check_unique(&columns, by.first().map_or(0, |b| b.expr.at))?;
        let group = if keys.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = keys.iter().map(|(k, _)| quote(k)).collect();
            format!(" GROUP BY {}", inner.join(", "))
        };
        Ok(Stage {
            sql: stage.wrap(&select.join(", "), &group),
            columns,
            ordered: false,
        })
    }

    /// `count()`, `dcount(x)`, ... → SQL and the resulting column.
    fn aggregation(&mut self, stage: &Stage, aggregate: &Aggregate) -> Result<(String, Column), QueryError> {
        let function = aggregate.function.name.as_str();
        let at = aggregate.function.at;
        let arity = match function {
            "count" => 0,
            "countif" | "dcount" | "min" | "max" | "sum" | "avg" | "any" | "take_any" | "make_set" | "make_list"
            | "makeset" | "makelist" => 1,
            _ => {
                return Err(self.error(
                    at,
                    format!("unsupported aggregation '{function}'; supported: {AGGREGATIONS}"),
                ));
            }
        };
        if aggregate.args.len() != arity {
            return Err(self.error(at, format!("{function}() takes {arity} argument(s)")));
        }
        let arg = match aggregate.args.first() {
            Some(expr) => Some((self.expr(expr, stage)?, expr)),
            None => None,
        };
        let default_name = match arg {
            Some((
                _,
                Expr {
                    kind: ExprKind::Column(column),
                    ..
                },
            )) if function != "countif" => {
                // Kusto's names: set_X, list_X, any_X.
                let prefix = match function {
                    "make_set" | "makeset" => "set",
                    "make_list" | "makelist" => "list",
                    "take_any" => "any",
                    other => other,
                };
                format!("{prefix}_{column}")
            }
            _ => format!("{function}_"),
        };
        let name = match &aggregate.name {
            Some(name) => {
                self.check_new_name(name)?;
                name.name.clone()
            }
            None => default_name,
        };
        let (sql, ty) = match (function, arg) {
            ("count", _) => ("COUNT(*)".to_string(), Type::Long),
            ("countif", Some((cond, expr))) => {
                if cond.ty != Type::Bool {
                    return Err(self.error(expr.at, "countif() needs a condition"));
                }
                (format!("COUNT(CASE WHEN {} THEN 1 END)", self.emit(&cond)), Type::Long)
            }
            ("dcount", Some((value, _))) => (format!("COUNT(DISTINCT {})", self.emit(&value)), Type::Long),
            ("min" | "max", Some((value, expr))) => {
                if matches!(value.ty, Type::Bool | Type::Dynamic) {
                    return Err(self.error(expr.at, format!("{function}() needs a number, string or datetime")));
                }
                let ordinal = self.dialect.ordinal(value.ty == Type::String);
                let sql = format!("{}({}{ordinal})", function.to_uppercase(), self.emit(&value));
                (sql, value.ty)
            }
            ("any" | "take_any", Some((value, expr))) => {
                if matches!(value.ty, Type::Bool | Type::Dynamic) {
                    return Err(self.error(expr.at, format!("{function}() takes a number, string or datetime")));
                }
                // Some value of the group: here the least, so that both
                // stores pick the same.
                let ordinal = self.dialect.ordinal(value.ty == Type::String);
                (format!("MIN({}{ordinal})", self.emit(&value)), value.ty)
            }
            ("make_set" | "makeset" | "make_list" | "makelist", Some((value, expr))) => {
                if value.ty == Type::Dynamic {
                    return Err(self.error(expr.at, format!("{function}() collects scalars, not dynamic values")));
                }
                let distinct = function.contains("set");
                (self.collect(&value, distinct, stage.ordered), Type::Dynamic)
            }
            ("sum" | "avg", Some((value, expr))) => {
                if !value.is_numeric() {
                    return Err(self.error(expr.at, format!("{function}() needs a number")));
                }
                // PostgreSQL sums and averages integers as `numeric`: cast
                // back to what KQL returns.
                let ty = if function == "avg" { Type::Real } else { value.ty };
                let cast = if ty == Type::Real { "DOUBLE PRECISION" } else { "BIGINT" };
                let sql = format!("CAST({}({}) AS {cast})", function.to_uppercase(), self.emit(&value));
                (sql, ty)
            }
            _ => unreachable!("arity checked above"),
        };
        Ok((sql, Column::new(&name, ty)))
    }

    /// `make_set` (`distinct`) or `make_list`: the group's values that are
    /// not null as an array, in their order (the rows' where they are
    /// sorted, else the values').
    fn collect(&mut self, value: &Typed, distinct: bool, ordered: bool) -> String {
        let raw = self.emit(value);
        let is_text = matches!(value.ty, Type::String | Type::Datetime);
        let element = if value.ty == Type::Datetime {
            self.dialect.text_of(&raw, Type::Datetime)
        } else {
            raw.clone()
        };
        let ordinal = self.dialect.ordinal(is_text);
        let order = if ordered && !distinct {
            ORDER.to_string()
        } else {
            format!("{element}{ordinal}")
        };
        match self.dialect {
            Dialect::Sqlite => {
                let element = if value.ty == Type::Bool {
                    format!("(CASE WHEN {raw} THEN json('true') ELSE json('false') END)")
                } else {
                    element
                };
                let distinct = if distinct { "DISTINCT " } else { "" };
                let order = if distinct.is_empty() { order } else { element.clone() };
                format!("json_group_array({distinct}{element} ORDER BY {order}) FILTER (WHERE {raw} IS NOT NULL)")
            }
            Dialect::Postgres => {
                let (distinct, element) = if distinct {
                    ("DISTINCT ", format!("{element}{ordinal}"))
                } else {
                    ("", element)
                };
                let order = if distinct.is_empty() { order } else { element.clone() };
                format!(
                    "COALESCE(to_jsonb(array_agg({distinct}{element} ORDER BY {order}) FILTER (WHERE {raw} IS NOT NULL)), \
                     '[]'::jsonb)"
                )
            }
        }
    }

    /// `summarize arg_max(X, cols | *) by keys`: per group, the row with the
    /// largest (smallest) X: keys, X, then the columns asked for.
    /// `keys` pairs each key's column in `stage` with its name in the result.
    fn arg_extreme(
        &mut self,
        stage: Stage,
        aggregate: &Aggregate,
        keys: Vec<(Column, String)>,
    ) -> Result<Stage, QueryError> {
        let function = &aggregate.function;
        let Some((target, rest)) = aggregate.args.split_first() else {
            return Err(self.error(function.at, format!("{}() needs a column to compare", function.name)));
        };
        let typed = self.expr(target, &stage)?;
        let target_name = match &target.kind {
            ExprKind::Column(name) => name.clone(),
            _ => {
                self.auto_names += 1;
                format!("Column{}", self.auto_names)
            }
        };
        // A key named like the compared column (`by bin(TimeGenerated, 1d)`)
        // keeps the name; the column's largest value is `TimeGenerated1`.
        let target_name = if keys.iter().any(|(_, outer)| *outer == target_name) {
            format!("{target_name}1")
        } else {
            target_name
        };
        let target_sql = self.emit(&typed);
        let ordinal = self.dialect.ordinal(typed.ty == Type::String);
        let mut columns: Vec<Column> = keys.iter().map(|(c, outer)| Column::new(outer, c.ty)).collect();
        columns.push(Column::new(&target_name, typed.ty));
        let mut select: Vec<String> = keys
            .iter()
            .map(|(c, outer)| format!("{} AS {}", quote(&c.name), quote(outer)))
            .collect();
        select.push(format!("{target_sql} AS {}", quote(&target_name)));
        let mut wanted: Vec<Column> = Vec::new();
        for arg in rest {
            match &arg.kind {
                // Not the keys computed under hidden names.
                ExprKind::Star => wanted.extend(stage.columns.iter().filter(|c| !c.name.starts_with("__by")).cloned()),
                ExprKind::Column(name) => match stage.find(name) {
                    Some(column) => wanted.push(column.clone()),
                    None => return Err(self.unknown_column(&stage, name, arg.at)),
                },
                _ => return Err(self.error(arg.at, format!("{}() returns columns or *", function.name))),
            }
        }
        for column in wanted {
            if !columns.iter().any(|c| c.name == column.name) {
                select.push(quote(&column.name));
                columns.push(column);
            }
        }
        let direction = if function.name == "arg_max" { "DESC" } else { "ASC" };
        let partition = if keys.is_empty() {
            String::new()
        } else {
            let inner: Vec<Column> = keys.iter().map(|(c, _)| c.clone()).collect();
            format!("PARTITION BY {} ", select_list(&inner))
        };
        // Nulls never win: they sort last either way. Ties (rows of one
        // collection share their time) go to the first row in the order of
        // all its columns, so that both stores pick the same.
        let ties = self.every_column_order(&stage.columns);
        let ranked = format!(
            "SELECT *, ROW_NUMBER() OVER ({partition}ORDER BY ({target_sql}) IS NULL, {target_sql}{ordinal} {direction}, {ties}) \
             AS __rank FROM ({}) AS t",
            stage.sql
        );
        Ok(Stage {
            sql: format!("SELECT {} FROM ({ranked}) AS t WHERE __rank = 1", select.join(", ")),
            columns,
            ordered: false,
        })
    }

    fn unknown_column(&self, stage: &Stage, name: &str, at: usize) -> QueryError {
        let hint = match stage.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
            Some(close) => format!(" (column names are case-sensitive: did you mean '{}'?)", close.name),
            None => {
                let names: Vec<&str> = stage.columns.iter().map(|c| c.name.as_str()).collect();
                format!("; columns here: {}", names.join(", "))
            }
        };
        self.error(at, format!("unknown column '{name}'{hint}"))
    }

    /// An expression's SQL, refused when it grows past [`MAX_SQL_LEN`]
    /// (functions and `let`s repeat what they are given where it is used).
    fn expr(&mut self, expr: &Expr, stage: &Stage) -> Result<Typed, QueryError> {
        let typed = self.expr_unchecked(expr, stage)?;
        match &typed.value {
            Val::Sql(sql) if sql.len() > MAX_SQL_LEN || self.params.len() > MAX_PARAMS => Err(self.error(
                expr.at,
                "the query expands to too large a statement (its let names and functions are repeated where \
                 they are used)",
            )),
            _ => Ok(typed),
        }
    }

    fn expr_unchecked(&mut self, expr: &Expr, stage: &Stage) -> Result<Typed, QueryError> {
        match &expr.kind {
            ExprKind::Column(name) => self.name_value(stage, name, expr.at),
            ExprKind::Index(value, key) => self.index(stage, value, key),
            ExprKind::HasAny { subject, list } => self.has_any(stage, subject, list),
            ExprKind::Matches { subject, pattern } => self.matches(stage, subject, pattern),
            ExprKind::Between {
                subject,
                low,
                high,
                negated,
            } => {
                let s = self.expr(subject, stage)?;
                let (l, h) = (self.expr(low, stage)?, self.expr(high, stage)?);
                let above = self.binary(BinaryOp::Ge, s.clone(), l, expr.at, low.at)?;
                let below = self.binary(BinaryOp::Le, s, h, expr.at, high.at)?;
                let both = self.binary(BinaryOp::And, above, below, expr.at, high.at)?;
                if *negated {
                    let sql = self.emit(&both);
                    Ok(Typed::sql(Type::Bool, format!("(NOT {sql})")))
                } else {
                    Ok(both)
                }
            }
            ExprKind::SearchTerm(_) => Err(self.error(expr.at, "a bare string is a term only in 'search'")),
            ExprKind::ToScalar(pipeline) => self.scalar_of(pipeline),
            ExprKind::Tabular(_) => Err(self.error(expr.at, "a table is a list only after 'in'")),
            ExprKind::Literal(literal) => self.literal(literal, expr.at),
            ExprKind::Star => Err(self.error(expr.at, "'*' is only allowed in arg_max(), arg_min() and distinct")),
            ExprKind::Negate(inner) => {
                let typed = self.expr(inner, stage)?;
                match (typed.as_const(), typed.ty) {
                    (Some(Const::Long(n)), _) => Ok(Typed::constant(Const::Long(n.wrapping_neg()))),
                    (Some(Const::Real(r)), _) => Ok(Typed::constant(Const::Real(-r))),
                    (Some(Const::Timespan(t)), _) => Ok(Typed::constant(Const::Timespan(t.wrapping_neg()))),
                    (None, Type::Long | Type::Real | Type::Timespan) => {
                        let sql = self.emit(&typed);
                        Ok(Typed::sql(typed.ty, format!("(-{sql})")))
                    }
                    _ => Err(self.error(expr.at, "'-' needs a number or a timespan")),
                }
            }
            ExprKind::Binary(op, left, right) => {
                let l = self.expr(left, stage)?;
                let r = self.expr(right, stage)?;
                self.binary(*op, l, r, expr.at, right.at)
            }
            ExprKind::Text {
                op,
                negated,
                case_sensitive,
                subject,
                pattern,
            } => {
                let s = self.expr(subject, stage)?;
                let p = self.expr(pattern, stage)?;
                if p.ty != Type::String {
                    return Err(self.error(pattern.at, "a string operator needs a string to look for"));
                }
                let s = self.emit_text(&s);
                let p = self.emit(&p);
                let not = if *negated { "NOT " } else { "" };
                Ok(Typed::sql(
                    Type::Bool,
                    format!(
                        "({not}kql_text({}, {}, {s}, {p}))",
                        op.code(),
                        i64::from(*case_sensitive)
                    ),
                ))
            }
            ExprKind::In {
                subject,
                list,
                negated,
                case_sensitive,
            } => self.in_list(stage, subject, list, *negated, *case_sensitive),
            ExprKind::Call(name, args) => self.call(stage, name, args),
        }
    }

    fn literal(&mut self, literal: &Literal, at: usize) -> Result<Typed, QueryError> {
        Ok(Typed::constant(match literal {
            Literal::Str(s) => Const::Str(s.clone()),
            Literal::Long(n) => Const::Long(*n),
            Literal::Real(r) => Const::Real(*r),
            Literal::Bool(b) => Const::Bool(*b),
            Literal::Timespan(t) => Const::Timespan(*t),
            Literal::Dynamic(value) => Const::Dynamic(value.clone()),
            Literal::Datetime(raw) => Const::Datetime(parse_datetime(raw).ok_or_else(|| {
                self.error(
                    at,
                    format!(
                        "cannot read datetime({raw}); write e.g. datetime(2026-11-25), \
                         datetime(2026-11-25 08:30:00) or datetime(2026-11-25T08:30:00Z)"
                    ),
                )
            })?),
        }))
    }

    fn binary(&mut self, op: BinaryOp, l: Typed, r: Typed, at: usize, right_at: usize) -> Result<Typed, QueryError> {
        use BinaryOp::*;
        // A dynamic value compared with a string or a number is read as one.
        let (l, r) = match (l.ty, r.ty) {
            (Type::Dynamic, other) if other != Type::Dynamic => (self.dynamic_as(l, other), r),
            (other, Type::Dynamic) if other != Type::Dynamic => {
                let r = self.dynamic_as(r, other);
                (l, r)
            }
            (Type::Dynamic, Type::Dynamic) if matches!(op, Eq | NotEq | EqCi | NotEqCi) => {
                (self.dynamic_as(l, Type::String), self.dynamic_as(r, Type::String))
            }
            _ => (l, r),
        };
        let mismatch = |this: &Self, l: &Typed, r: &Typed| {
            let mut message = format!("cannot apply '{}' to {} and {}", op.symbol(), l.ty.name(), r.ty.name());
            if matches!(
                (l.ty, r.ty),
                (Type::Datetime, Type::String) | (Type::String, Type::Datetime)
            ) {
                message.push_str("; write the time as datetime(...) or ago(...)");
            }
            this.error(at, message)
        };
        match op {
            And | Or => {
                if l.ty != Type::Bool || r.ty != Type::Bool {
                    return Err(mismatch(self, &l, &r));
                }
                let word = if op == And { "AND" } else { "OR" };
                let (l, r) = (self.emit(&l), self.emit(&r));
                Ok(Typed::sql(Type::Bool, format!("({l} {word} {r})")))
            }
            Eq | NotEq | Lt | Le | Gt | Ge => {
                let comparable = (l.is_numeric() && r.is_numeric())
                    || (l.ty == r.ty && matches!(l.ty, Type::Datetime | Type::Timespan | Type::Decimal))
                    || (l.ty == r.ty && matches!(l.ty, Type::String | Type::Bool) && matches!(op, Eq | NotEq));
                if !comparable {
                    return Err(mismatch(self, &l, &r));
                }
                let symbol = match op {
                    Eq => "=",
                    NotEq => "<>",
                    other => other.symbol(),
                };
                if l.ty == Type::String {
                    return Ok(Typed::sql(Type::Bool, self.string_equality(&l, &r, symbol)));
                }
                let (l, r) = (self.emit(&l), self.emit(&r));
                Ok(Typed::sql(Type::Bool, format!("({l} {symbol} {r})")))
            }
            EqCi | NotEqCi => {
                if l.ty != Type::String || r.ty != Type::String {
                    return Err(mismatch(self, &l, &r));
                }
                let not = if op == NotEqCi { "NOT " } else { "" };
                let (l, r) = (self.emit(&l), self.emit(&r));
                Ok(Typed::sql(Type::Bool, format!("({not}kql_text(0, 0, {l}, {r}))")))
            }
            Add | Sub | Mul | Div | Rem => self.arithmetic(op, l, r, at, right_at),
        }
    }

    /// `==` / `!=` on strings, null being the empty string. A column
    /// compared with a non-empty constant stays bare so that its index serves.
    fn string_equality(&mut self, l: &Typed, r: &Typed, symbol: &str) -> String {
        let non_empty_const = |t: &Typed| matches!(t.as_const(), Some(Const::Str(s)) if !s.is_empty());
        if symbol == "=" && (non_empty_const(l) || non_empty_const(r)) {
            let (l, r) = (self.emit(l), self.emit(r));
            return format!("({l} = {r})");
        }
        let (l, r) = (self.emit_text(l), self.emit_text(r));
        format!("({l} {symbol} {r})")
    }

    fn arithmetic(
        &mut self,
        op: BinaryOp,
        l: Typed,
        r: Typed,
        at: usize,
        right_at: usize,
    ) -> Result<Typed, QueryError> {
        use BinaryOp::*;
        // Time arithmetic is folded: ago(), now() and datetime() are constants.
        match (op, l.as_const(), r.as_const()) {
            (Add | Sub, Some(Const::Datetime(t)), Some(Const::Timespan(span))) => {
                let span = SignedDuration::from_micros(if op == Add { *span } else { span.wrapping_neg() });
                let moved = t
                    .checked_add(span)
                    .map_err(|_| self.error(at, "the resulting time is out of range"))?;
                return Ok(Typed::constant(Const::Datetime(moved)));
            }
            (Sub, Some(Const::Datetime(a)), Some(Const::Datetime(b))) => {
                let micros = a.duration_since(*b).as_micros();
                return Ok(Typed::constant(Const::Timespan(micros as i64)));
            }
            (Add | Sub, Some(Const::Timespan(a)), Some(Const::Timespan(b))) => {
                let sum = if op == Add {
                    a.checked_add(*b)
                } else {
                    a.checked_sub(*b)
                };
                return sum
                    .map(|t| Typed::constant(Const::Timespan(t)))
                    .ok_or_else(|| self.error(at, "timespan out of range"));
            }
            _ => {}
        }
        if matches!(l.ty, Type::Datetime | Type::Timespan) || matches!(r.ty, Type::Datetime | Type::Timespan) {
            return self.time_arithmetic(op, l, r, at);
        }
        if !l.is_numeric() || !r.is_numeric() {
            return Err(self.error(
                at,
                format!("cannot apply '{}' to {} and {}", op.symbol(), l.ty.name(), r.ty.name()),
            ));
        }
        if op == Rem && (l.ty == Type::Real || r.ty == Type::Real) {
            return Err(self.error(at, "'%' needs whole numbers"));
        }
        if matches!(op, Div | Rem) && matches!(r.as_const(), Some(Const::Long(0))) {
            return Err(self.error(right_at, "division by zero"));
        }
        let ty = if l.ty == Type::Real || r.ty == Type::Real {
            Type::Real
        } else {
            Type::Long
        };
        let (l, r) = (self.emit(&l), self.emit(&r));
        Ok(Typed::sql(ty, format!("({l} {} {r})", op.symbol())))
    }

    fn in_list(
        &mut self,
        stage: &Stage,
        subject: &Expr,
        list: &[Expr],
        negated: bool,
        case_sensitive: bool,
    ) -> Result<Typed, QueryError> {
        let s = self.expr(subject, stage)?;
        let s = self.dynamic_as(s, Type::String);
        let mut items = Vec::new();
        // Arrays in the list: a constant one's elements join the list; any
        // other is tested element by element.
        let mut arrays = Vec::new();
        // Tables in the list: their first column's values.
        let mut tables = Vec::new();
        for item in list {
            let tabular = match &item.kind {
                ExprKind::Tabular(pipeline) => Some((**pipeline).clone()),
                ExprKind::Column(name) if stage.find(name).is_none() => self.as_source(item).map(|source| Pipeline {
                    source,
                    ops: Vec::new(),
                }),
                _ => None,
            };
            if let Some(pipeline) = tabular {
                tables.push(self.first_column_values(&pipeline, &s, case_sensitive, item.at)?);
                continue;
            }
            let typed = self.expr(item, stage)?;
            if typed.ty == Type::Dynamic {
                if typed.as_const().is_none() {
                    arrays.push(typed);
                    continue;
                }
                for element in dynamic::constant_elements(&typed) {
                    let value = match s.ty {
                        Type::Long => element.parse().ok().map(Const::Long),
                        Type::Real => element.parse().ok().map(Const::Real),
                        _ => Some(Const::Str(element)),
                    };
                    items.extend(value.map(Typed::constant));
                }
                continue;
            }
            let fits = (s.is_numeric() && typed.is_numeric()) || s.ty == typed.ty;
            if !fits || (!case_sensitive && typed.ty != Type::String) {
                return Err(self.error(
                    item.at,
                    format!("a {} value in a list compared with a {}", typed.ty.name(), s.ty.name()),
                ));
            }
            items.push(typed);
        }
        let not = if negated { "NOT " } else { "" };
        let subject = if s.ty == Type::String {
            self.emit_text(&s)
        } else {
            self.emit(&s)
        };
        let mut tests: Vec<String> = Vec::new();
        if !case_sensitive {
            for item in &items {
                let value = self.emit(item);
                tests.push(format!("kql_text(0, 0, {subject}, {value})"));
            }
        } else if !items.is_empty() {
            let values: Vec<String> = items.iter().map(|item| self.emit(item)).collect();
            tests.push(format!("{subject} IN ({})", values.join(", ")));
        }
        for array in &arrays {
            tests.push(self.in_dynamic(&subject, s.ty, array, case_sensitive));
        }
        for values in &tables {
            tests.push(if case_sensitive {
                format!("{subject} IN (SELECT v FROM {values} AS l)")
            } else {
                format!("EXISTS (SELECT 1 FROM {values} AS l WHERE kql_text(0, 0, {subject}, l.v))")
            });
        }
        if tests.is_empty() {
            // Nothing to be in: false, the subject kept for its parameters.
            tests.push(format!("({subject} IS NULL AND 1 = 0)"));
        }
        Ok(Typed::sql(Type::Bool, format!("({not}({}))", tests.join(" OR "))))
    }

    /// A table's first column as `(SELECT v ...)`, its values compared as
    /// `subject` is (strings with null as "", nulls left out so that
    /// `!in` stays true for what is not there).
    fn first_column_values(
        &mut self,
        pipeline: &Pipeline,
        subject: &Typed,
        case_sensitive: bool,
        at: usize,
    ) -> Result<String, QueryError> {
        let values = self.pipeline(pipeline)?;
        let Some(first) = values.columns.first().cloned() else {
            return Err(self.error(at, "a table in an 'in' list needs a column"));
        };
        let fits = (subject.is_numeric() && matches!(first.ty, Type::Long | Type::Real)) || subject.ty == first.ty;
        if !fits || (!case_sensitive && first.ty != Type::String) {
            return Err(self.error(
                at,
                format!(
                    "the table's first column, {}, is a {}, compared with a {}",
                    first.name,
                    first.ty.name(),
                    subject.ty.name()
                ),
            ));
        }
        let column = Typed::sql(first.ty, quote(&first.name));
        let value = if first.ty == Type::String {
            self.emit_text(&column)
        } else {
            self.emit(&column)
        };
        Ok(format!(
            "(SELECT {value} AS v FROM ({}) AS t WHERE {value} IS NOT NULL)",
            values.sql
        ))
    }

    fn call(&mut self, stage: &Stage, name: &Name, args: &[Expr]) -> Result<Typed, QueryError> {
        let function = name.name.as_str();
        let arity: &[usize] = match function {
            "now" => &[0, 1],
            "ago" | "tostring" | "isempty" | "isnotempty" | "isnull" | "isnotnull" | "not" | "strlen" | "tolower"
            | "toupper" => &[1],
            "iff" | "iif" | "replace_string" => &[3],
            // Kusto's limits: case() up to 2 * 512 + 1, the others 64.
            "case" => &(3..=1025).step_by(2).collect::<Vec<_>>(),
            "strcat" => &(1..=64).collect::<Vec<_>>(),
            "coalesce" => &(2..=64).collect::<Vec<_>>(),
            _ if self.function(function).is_some() => return self.user_call(stage, name, args),
            _ if time::FUNCTIONS.contains(&function) => return self.time_call(stage, name, args),
            _ if dynamic::FUNCTIONS.contains(&function) => return self.dynamic_call(stage, name, args),
            _ if regex::FUNCTIONS.contains(&function) => return self.regex_call(stage, name, args),
            _ if AGGREGATIONS.split(", ").any(|a| a == function) => {
                return Err(self.error(name.at, format!("{function}() is an aggregation: use it in summarize")));
            }
            _ => {
                return Err(self.error(
                    name.at,
                    format!("unsupported function '{function}'; supported: {SUPPORTED_FUNCTIONS}"),
                ));
            }
        };
        if !arity.contains(&args.len()) {
            let expected = match function {
                "case" => "an odd number (3 or more) of arguments: conditions and values, then the default".to_string(),
                _ if arity.len() > 1 && arity[1] == arity[0] + 1 => {
                    format!("{} to {} arguments", arity[0], arity[arity.len() - 1])
                }
                _ => format!("{} argument(s)", arity[arity.len() - 1]),
            };
            return Err(self.error(name.at, format!("{function}() takes {expected}")));
        }
        let typed: Vec<Typed> = args.iter().map(|a| self.expr(a, stage)).collect::<Result<_, _>>()?;
        let timespan_arg = |this: &Self, i: usize| match typed.get(i).and_then(Typed::as_const) {
            Some(Const::Timespan(t)) => Ok(*t),
            _ => Err(this.error(args[i].at, format!("{function}() takes a timespan such as 1h or 7d"))),
        };
        let offset = |this: &Self, micros: i64| {
            this.now
                .checked_add(SignedDuration::from_micros(micros))
                .map_err(|_| this.error(name.at, "the resulting time is out of range"))
        };
        match function {
            "now" => {
                let shift = if typed.is_empty() { 0 } else { timespan_arg(self, 0)? };
                Ok(Typed::constant(Const::Datetime(offset(self, shift)?)))
            }
            "ago" => {
                let span = timespan_arg(self, 0)?;
                Ok(Typed::constant(Const::Datetime(offset(self, span.wrapping_neg())?)))
            }
            "not" => {
                if typed[0].ty != Type::Bool {
                    return Err(self.error(args[0].at, "not() needs a condition"));
                }
                Ok(Typed::sql(Type::Bool, format!("(NOT {})", self.emit(&typed[0]))))
            }
            "isempty" | "isnotempty" | "isnull" | "isnotnull" => {
                let value = self.emit(&typed[0]);
                let is_text = typed[0].ty == Type::String;
                let sql = match function {
                    "isempty" if is_text => format!("({value} IS NULL OR {value} = '')"),
                    "isnotempty" if is_text => format!("({value} IS NOT NULL AND {value} <> '')"),
                    "isempty" => format!("({value} IS NULL)"),
                    "isnotempty" => format!("({value} IS NOT NULL)"),
                    "isnull" => format!("({value} IS NULL)"),
                    _ => format!("({value} IS NOT NULL)"),
                };
                Ok(Typed::sql(Type::Bool, sql))
            }
            "tostring" => {
                let sql = self.as_text(&typed[0]);
                Ok(Typed::sql(Type::String, sql))
            }
            "strcat" => {
                let parts: Vec<String> = typed.iter().map(|t| self.as_text(t)).collect();
                Ok(Typed::sql(Type::String, format!("({})", parts.join(" || "))))
            }
            "replace_string" => {
                let [text, lookup, rewrite] = [0, 1, 2].map(|i| self.emit_text(&typed[i]));
                // An empty lookup replaces nothing (SQLite and PostgreSQL agree).
                Ok(Typed::sql(
                    Type::String,
                    format!("replace({text}, {lookup}, {rewrite})"),
                ))
            }
            "iff" | "iif" | "case" => {
                // Conditions and values alternate; the last is the default.
                let last = typed.len() - 1;
                for i in (0..last).step_by(2) {
                    if typed[i].ty != Type::Bool {
                        return Err(self.error(args[i].at, format!("{function}() needs a condition here")));
                    }
                }
                let values: Vec<(&Typed, usize)> = (1..last).step_by(2).chain([last]).map(|i| (&typed[i], i)).collect();
                let ty = self.common_type(function, &values, args)?;
                let mut sql = String::from("(CASE");
                for i in (0..last).step_by(2) {
                    let condition = self.emit(&typed[i]);
                    let value = self.emit_as(&typed[i + 1], ty);
                    sql.push_str(&format!(" WHEN {condition} THEN {value}"));
                }
                let default = self.emit_as(&typed[last], ty);
                sql.push_str(&format!(" ELSE {default} END)"));
                Ok(Typed::sql(ty, sql))
            }
            "coalesce" => {
                let values: Vec<(&Typed, usize)> = typed.iter().zip(0..).collect();
                let ty = self.common_type(function, &values, args)?;
                let parts: Vec<String> = typed
                    .iter()
                    .map(|t| {
                        let value = self.emit_as(t, ty);
                        // Kusto: for strings, the first that is not empty.
                        if ty == Type::String {
                            format!("NULLIF({value}, '')")
                        } else {
                            value
                        }
                    })
                    .collect();
                let sql = if ty == Type::String {
                    format!("COALESCE({}, '')", parts.join(", "))
                } else {
                    format!("COALESCE({})", parts.join(", "))
                };
                Ok(Typed::sql(ty, sql))
            }
            "strlen" => {
                let value = self.emit_text(&typed[0]);
                Ok(Typed::sql(Type::Long, format!("CAST(length({value}) AS BIGINT)")))
            }
            _ => {
                let upper = i64::from(function == "toupper");
                Ok(Typed::sql(
                    Type::String,
                    format!("kql_case({}, {upper})", self.emit_text(&typed[0])),
                ))
            }
        }
    }
}

impl Translator<'_> {
    /// A call's arguments, translated, once their number is one of `arity`.
    fn call_arguments(
        &mut self,
        stage: &Stage,
        name: &Name,
        args: &[Expr],
        arity: &[usize],
    ) -> Result<Vec<Typed>, QueryError> {
        if !arity.contains(&args.len()) {
            let counts: Vec<String> = arity.iter().map(usize::to_string).collect();
            return Err(self.error(
                name.at,
                format!("{}() takes {} argument(s)", name.name, counts.join(" or ")),
            ));
        }
        args.iter().map(|a| self.expr(a, stage)).collect()
    }

    /// Refuses argument `arg` of `function` unless `ok`: it needs `what`.
    fn require(&self, function: &str, arg: &Expr, ok: bool, what: &str) -> Result<(), QueryError> {
        if ok {
            Ok(())
        } else {
            Err(self.error(arg.at, format!("{function}() needs {what} here")))
        }
    }

    /// `datetime ± timespan`, `datetime - datetime`, timespans added,
    /// scaled and divided: on microseconds.
    fn time_arithmetic(&mut self, op: BinaryOp, l: Typed, r: Typed, at: usize) -> Result<Typed, QueryError> {
        use BinaryOp::*;
        use Type::{Datetime, Long, Real, Timespan};
        let (ls, rs) = (self.emit(&l), self.emit(&r));
        let micros = |this: &Self, t: &Typed, sql: &str| {
            if t.ty == Datetime {
                this.dialect.micros_of(sql)
            } else {
                sql.to_string()
            }
        };
        let (lm, rm) = (micros(self, &l, &ls), micros(self, &r, &rs));
        let (ty, sql) = match (op, l.ty, r.ty) {
            (Add, Datetime, Timespan) | (Add, Timespan, Datetime) | (Sub, Datetime, Timespan) => {
                let sum = format!("({lm} {} {rm})", op.symbol());
                (Datetime, self.dialect.datetime_of(&sum))
            }
            (Sub, Datetime, Datetime) | (Add | Sub, Timespan, Timespan) => {
                (Timespan, format!("({lm} {} {rm})", op.symbol()))
            }
            (Mul, Timespan, Long) | (Mul, Long, Timespan) | (Div, Timespan, Long) => {
                (Timespan, format!("({ls} {} {rs})", op.symbol()))
            }
            (Mul, Timespan, Real) | (Mul, Real, Timespan) | (Div, Timespan, Real) => {
                (Timespan, self.dialect.truncate(&format!("({ls} {} {rs})", op.symbol())))
            }
            (Div, Timespan, Timespan) => (Real, format!("(CAST({ls} AS DOUBLE PRECISION) / {rs})")),
            _ => {
                return Err(self.error(
                    at,
                    format!("cannot apply '{}' to {} and {}", op.symbol(), l.ty.name(), r.ty.name()),
                ));
            }
        };
        Ok(Typed::sql(ty, sql))
    }

    /// An operand as `tostring()` gives it: null is "", a bool `true` or
    /// `false`, other types their text.
    pub(super) fn as_text(&mut self, typed: &Typed) -> String {
        let value = self.emit(typed);
        match typed.ty {
            Type::Bool => format!("(CASE WHEN {value} IS NULL THEN '' WHEN {value} THEN 'true' ELSE 'false' END)"),
            Type::String if typed.as_const().is_some() => value,
            ty => format!("COALESCE({}, '')", self.dialect.text_of(&value, ty)),
        }
    }

    /// A value where `ty` is expected: a long where a real is, as a real
    /// (so that both stores give the same number).
    fn emit_as(&mut self, typed: &Typed, ty: Type) -> String {
        let value = self.emit(typed);
        if ty == Type::Real && typed.ty == Type::Long {
            format!("CAST({value} AS DOUBLE PRECISION)")
        } else {
            value
        }
    }

    /// The one type of values that must agree (`iff`'s branches,
    /// `coalesce`'s arguments): long and real make real; anything else
    /// must be the same. `values` pairs each with its argument's index.
    fn common_type(&self, function: &str, values: &[(&Typed, usize)], args: &[Expr]) -> Result<Type, QueryError> {
        let first = values[0].0.ty;
        let mut ty = first;
        for (value, index) in &values[1..] {
            ty = match (ty, value.ty) {
                (a, b) if a == b => a,
                (Type::Long | Type::Real, Type::Long | Type::Real) => Type::Real,
                _ => {
                    return Err(self.error(
                        args[*index].at,
                        format!(
                            "{function}() mixes a {} value with a {} one",
                            value.ty.name(),
                            first.name()
                        ),
                    ));
                }
            };
        }
        Ok(ty)
    }
}

/// `*` matches any run of characters. Linear backtracking: only the last
/// `*` is ever returned to, so no pattern can make this slow.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The text inside `datetime(...)`, quoted or not: RFC 3339, a date, or a
/// date and time (UTC).
fn parse_datetime(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(dt) = raw.replacen(' ', "T", 1).parse::<jiff::civil::DateTime>() {
        return utc.to_timestamp(dt).ok();
    }
    raw.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| utc.to_timestamp(d.to_datetime(jiff::civil::Time::midnight())).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_in_linear_time() {
        assert!(wildcard_match("Svc*", "SvcName"));
        assert!(wildcard_match("*Date*", "PreviousDateModified"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("Svc*Z", "SvcName"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        let hostile = format!("{}Z", "*".repeat(5000));
        assert!(!wildcard_match(&hostile, &"a".repeat(5000)));
    }

    #[test]
    fn deep_or_long_expressions_are_refused_not_overflowed() {
        let deep = format!(
            "ConfigurationChange | where {}1{} == 1",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(
            crate::parser::parse(&deep)
                .unwrap_err()
                .message
                .contains("nest at most")
        );
        let negated = format!("ConfigurationChange | where {}1 == 1", "-".repeat(30_000));
        assert!(
            crate::parser::parse(&negated)
                .unwrap_err()
                .message
                .contains("nest at most")
        );
        let long = format!("ConfigurationChange | where Size == 1{}", " + 1".repeat(20_000));
        assert!(
            crate::parser::parse(&long)
                .unwrap_err()
                .message
                .contains("at most 300 operators")
        );
    }

    #[test]
    fn datetime_literals() {
        let dt = parse_datetime;
        let expect = |raw: &str, iso: &str| assert_eq!(dt(raw), Some(iso.parse().unwrap()), "{raw}");
        expect("2026-11-25", "2026-11-25T00:00:00Z");
        expect("2026-11-25 08:30", "2026-11-25T08:30:00Z");
        expect("\"2026-11-25T08:30:00.25\"", "2026-11-25T08:30:00.25Z");
        expect("2026-11-25T08:30:00+02:00", "2026-11-25T06:30:00Z");
        assert_eq!(dt("yesterday"), None);
    }
}
