//! Dynamic values (arrays and property bags): `dynamic([...])`, `pack`,
//! `parse_json`, indexing, `split`, `strcat_array`, `array_length`,
//! `array_slice`, `has_any`, `in` over an array, `make_set`/`make_list`
//! and `mv-expand`. The agent keeps them as JSON text (SQLite's JSON
//! functions), the server as `jsonb`.

use super::{Const, Stage, Translator, Typed, quote};
use crate::ast::*;
use crate::{Column, Dialect, Param, QueryError, Type};

pub(super) const FUNCTIONS: &[&str] = &[
    "pack",
    "bag_pack",
    "pack_array",
    "parse_json",
    "todynamic",
    "split",
    "strcat_array",
    "array_length",
    "array_slice",
];

impl Translator<'_> {
    /// A dynamic value as SQL the JSON functions take.
    fn json(&mut self, typed: &Typed) -> String {
        let sql = self.emit(typed);
        match typed.value {
            super::Val::Const(_) => sql,
            super::Val::Sql(_) => self.dialect.dynamic_operand(&sql),
        }
    }

    /// A scalar as an element of a JSON array or bag.
    fn json_element(&mut self, typed: &Typed) -> String {
        match (self.dialect, typed.ty) {
            (_, Type::Dynamic) => self.json(typed),
            (Dialect::Sqlite, Type::Bool) => {
                let value = self.emit(typed);
                format!("(CASE WHEN {value} IS NULL THEN NULL WHEN {value} THEN json('true') ELSE json('false') END)")
            }
            (_, Type::Datetime) => {
                let value = self.emit(typed);
                self.dialect.text_of(&value, Type::Datetime)
            }
            _ => self.emit(typed),
        }
    }

    pub(super) fn dynamic_call(&mut self, stage: &Stage, name: &Name, args: &[Expr]) -> Result<Typed, QueryError> {
        let function = name.name.as_str();
        let arity: &[usize] = match function {
            "pack" | "bag_pack" => &[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32],
            "pack_array" => &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
            "split" => &[2, 3],
            "array_slice" => &[3],
            "strcat_array" => &[2],
            _ => &[1],
        };
        let typed = self.call_arguments(stage, name, args, arity)?;
        let need = |this: &Self, i: usize, ok: bool, what: &str| this.require(function, &args[i], ok, what);
        let sql = match function {
            "pack" | "bag_pack" => {
                let mut parts = Vec::new();
                for pair in (0..typed.len()).step_by(2) {
                    need(self, pair, typed[pair].ty == Type::String, "a property name (a string)")?;
                    parts.push(self.emit(&typed[pair]));
                    parts.push(self.json_element(&typed[pair + 1]));
                }
                match self.dialect {
                    Dialect::Sqlite => format!("json_object({})", parts.join(", ")),
                    Dialect::Postgres => format!("jsonb_build_object({})", parts.join(", ")),
                }
            }
            "pack_array" => {
                let parts: Vec<String> = typed.iter().map(|t| self.json_element(t)).collect();
                match self.dialect {
                    Dialect::Sqlite => format!("json_array({})", parts.join(", ")),
                    Dialect::Postgres => format!("jsonb_build_array({})", parts.join(", ")),
                }
            }
            "parse_json" | "todynamic" => {
                if typed[0].ty == Type::Dynamic {
                    return Ok(typed[0].clone());
                }
                need(self, 0, typed[0].ty == Type::String, "a string of JSON")?;
                let text = self.emit(&typed[0]);
                // Text that is not JSON is a dynamic string, as in Kusto.
                match self.dialect {
                    Dialect::Sqlite => {
                        format!(
                            "(CASE WHEN {text} IS NULL THEN NULL WHEN json_valid({text}) THEN json({text}) \
                             ELSE json_quote({text}) END)"
                        )
                    }
                    Dialect::Postgres => format!("kql_parse_json({text})"),
                }
            }
            "split" => {
                need(self, 0, typed[0].ty == Type::String, "a string")?;
                need(self, 1, typed[1].ty == Type::String, "a delimiter (a string)")?;
                let (text, delimiter) = (self.emit_text(&typed[0]), self.emit_text(&typed[1]));
                let parts = match self.dialect {
                    Dialect::Sqlite => format!("kql_split({text}, {delimiter})"),
                    // Kusto splits "" into [""], and splits by "" not at all.
                    Dialect::Postgres => format!(
                        "(CASE WHEN {text} = '' OR {delimiter} = '' THEN jsonb_build_array({text}) \
                         ELSE to_jsonb(string_to_array({text}, {delimiter})) END)"
                    ),
                };
                match typed.get(2) {
                    None => parts,
                    Some(index) => {
                        need(self, 2, index.ty == Type::Long, "a whole-number index")?;
                        let index = self.emit(index);
                        self.slice(&parts, &index, &index)
                    }
                }
            }
            "strcat_array" => {
                need(self, 0, typed[0].ty == Type::Dynamic, "an array")?;
                let (array, delimiter) = (self.json(&typed[0]), self.emit_text(&typed[1]));
                match self.dialect {
                    Dialect::Sqlite => format!(
                        "COALESCE((SELECT group_concat(CASE e.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                         ELSE CAST(e.value AS TEXT) END, {delimiter} ORDER BY e.key) FROM json_each(CASE WHEN json_type({array}) = 'array' \
                         THEN {array} END) AS e), '')"
                    ),
                    Dialect::Postgres => format!(
                        "COALESCE((SELECT string_agg(e.value, {delimiter} ORDER BY e.n) FROM \
                         jsonb_array_elements_text(CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} END) \
                         WITH ORDINALITY AS e(value, n)), '')"
                    ),
                }
            }
            "array_length" => {
                need(self, 0, typed[0].ty == Type::Dynamic, "an array")?;
                let array = self.json(&typed[0]);
                let length = match self.dialect {
                    Dialect::Sqlite => {
                        format!("(CASE WHEN json_type({array}) = 'array' THEN json_array_length({array}) END)")
                    }
                    Dialect::Postgres => {
                        format!("(CASE WHEN jsonb_typeof({array}) = 'array' THEN jsonb_array_length({array}) END)")
                    }
                };
                return Ok(Typed::sql(Type::Long, format!("CAST({length} AS BIGINT)")));
            }
            _ => {
                // array_slice(array, start, end): end included; negative from the end.
                need(self, 0, typed[0].ty == Type::Dynamic, "an array")?;
                need(self, 1, typed[1].ty == Type::Long, "a whole-number index")?;
                need(self, 2, typed[2].ty == Type::Long, "a whole-number index")?;
                let array = self.json(&typed[0]);
                let (start, end) = (self.emit(&typed[1]), self.emit(&typed[2]));
                self.slice(&array, &start, &end)
            }
        };
        Ok(Typed::sql(Type::Dynamic, sql))
    }

    /// The elements `start..=end` of an array (negative: from its end).
    fn slice(&self, array: &str, start: &str, end: &str) -> String {
        let (only, length) = match self.dialect {
            Dialect::Sqlite => (
                format!("(CASE WHEN json_type({array}) = 'array' THEN {array} END)"),
                "json_array_length",
            ),
            Dialect::Postgres => (
                format!("(CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} END)"),
                "jsonb_array_length",
            ),
        };
        let length = format!("{length}({only})");
        let from = format!("(CASE WHEN {start} < 0 THEN {length} + {start} ELSE {start} END)");
        let to = format!("(CASE WHEN {end} < 0 THEN {length} + {end} ELSE {end} END)");
        match self.dialect {
            Dialect::Sqlite => format!(
                "(SELECT json_group_array({only} -> e.fullkey ORDER BY e.key) FROM json_each({only}) AS e \
                 WHERE e.key BETWEEN {from} AND {to})"
            ),
            Dialect::Postgres => format!(
                "(SELECT COALESCE(jsonb_agg(e.value ORDER BY e.n), '[]'::jsonb) FROM jsonb_array_elements({only}) \
                 WITH ORDINALITY AS e(value, n) WHERE e.n - 1 BETWEEN {from} AND {to})"
            ),
        }
    }

    /// `value[index]`, `value["key"]`, `value.key`: a dynamic, null where
    /// there is nothing. The index is a constant.
    pub(super) fn index(&mut self, stage: &Stage, value: &Expr, key: &Expr) -> Result<Typed, QueryError> {
        let base = self.expr(value, stage)?;
        if base.ty != Type::Dynamic {
            return Err(self.error(
                value.at,
                format!("only a dynamic value is indexed, not a {}", base.ty.name()),
            ));
        }
        let path = match self.expr(key, stage)?.as_const() {
            Some(Const::Long(i)) if *i < 0 => Path::Back(i.checked_neg().unwrap_or(i64::MAX)),
            Some(Const::Long(i)) => Path::Index(*i),
            Some(Const::Str(k)) => Path::Key(k.clone()),
            _ => return Err(self.error(key.at, "an index is a constant: a whole number or a property name")),
        };
        let json = self.json(&base);
        let sql = match (self.dialect, path) {
            (Dialect::Sqlite, path) => {
                let text = match path {
                    Path::Index(i) => format!("$[{i}]"),
                    Path::Back(i) => format!("$[#-{i}]"),
                    Path::Key(k) => format!("$.\"{}\"", k.replace('"', "\\\"")),
                };
                let p = self.bind(Param::Text(text));
                format!("({json} -> {p})")
            }
            (Dialect::Postgres, Path::Index(i)) => {
                let p = self.bind(Param::Long(i));
                format!("({json} -> CAST({p} AS int4))")
            }
            (Dialect::Postgres, Path::Back(i)) => {
                let p = self.bind(Param::Long(i));
                format!("({json} -> CAST(-{p} AS int4))")
            }
            (Dialect::Postgres, Path::Key(k)) => {
                let p = self.bind(Param::Text(k));
                format!("({json} -> {p})")
            }
        };
        Ok(Typed::sql(Type::Dynamic, sql))
    }

    /// A dynamic value where a `ty` is wanted (compared with a string or a
    /// number): its text, or the number in it.
    pub(super) fn dynamic_as(&mut self, typed: Typed, ty: Type) -> Typed {
        if typed.ty != Type::Dynamic || ty == Type::Dynamic {
            return typed;
        }
        let json = self.json(&typed);
        let text = self.dialect.text_of(&json, Type::Dynamic);
        match ty {
            Type::Long | Type::Real => Typed::sql(ty, self.dialect.parse_number(&text, ty)),
            Type::Bool => Typed::sql(Type::Bool, format!("({text} = 'true')")),
            _ => Typed::sql(Type::String, text),
        }
    }

    /// The elements of a dynamic array as SQL rows of one column `value`
    /// (text for strings), for `EXISTS (SELECT 1 FROM ... WHERE ...)`.
    fn elements(&mut self, typed: &Typed) -> String {
        let json = self.json(typed);
        match self.dialect {
            Dialect::Sqlite => format!(
                "(SELECT CASE e.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(e.value AS TEXT) END \
                 AS value FROM json_each(CASE WHEN json_type({json}) = 'array' THEN {json} END) AS e)"
            ),
            Dialect::Postgres => format!(
                "(SELECT e.value FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof({json}) = 'array' THEN {json} END) AS e(value))"
            ),
        }
    }

    /// `subject has_any (...)`: the values listed, or the elements of
    /// dynamic arrays among them (constant ones are spelled out).
    pub(super) fn has_any(&mut self, stage: &Stage, subject: &Expr, list: &[Expr]) -> Result<Typed, QueryError> {
        let s = self.expr(subject, stage)?;
        let s = self.dynamic_as(s, Type::String);
        let subject = self.emit_text(&s);
        let mut tests = Vec::new();
        for item in list {
            let typed = self.expr(item, stage)?;
            for value in constant_elements(&typed) {
                let p = self.bind(Param::Text(value));
                tests.push(format!("kql_text(2, 0, {subject}, {p})"));
            }
            match (&typed.value, typed.ty) {
                (super::Val::Const(_), _) => {}
                (_, Type::Dynamic) => {
                    let elements = self.elements(&typed);
                    tests.push(format!(
                        "EXISTS (SELECT 1 FROM {elements} AS e WHERE kql_text(2, 0, {subject}, e.value))"
                    ));
                }
                _ => {
                    let text = self.emit_text(&typed);
                    tests.push(format!("kql_text(2, 0, {subject}, {text})"));
                }
            }
        }
        if tests.is_empty() {
            // Nothing to have: false, the subject kept for its parameters.
            return Ok(Typed::sql(Type::Bool, format!("({subject} IS NULL AND 1 = 0)")));
        }
        Ok(Typed::sql(Type::Bool, format!("({})", tests.join(" OR "))))
    }

    /// `x in (dynamic)`: a dynamic array in an `in` list, as the test of
    /// `subject` (text or number SQL) against its elements.
    pub(super) fn in_dynamic(
        &mut self,
        subject: &str,
        subject_ty: Type,
        typed: &Typed,
        case_sensitive: bool,
    ) -> String {
        let elements = self.elements(typed);
        let test = if !case_sensitive {
            format!("kql_text(0, 0, {subject}, e.value)")
        } else if subject_ty == Type::String {
            format!("{subject} = e.value")
        } else {
            format!("CAST({} AS TEXT) = e.value", subject)
        };
        format!("EXISTS (SELECT 1 FROM {elements} AS e WHERE {test})")
    }

    /// `mv-expand Column [to typeof(type)]`: a row per element of the
    /// array in `Column`; a row whose array is empty or null is kept once,
    /// with null.
    pub(super) fn mv_expand(&mut self, stage: Stage, column: &Name, to: Option<&Name>) -> Result<Stage, QueryError> {
        let Some(found) = stage.find(&column.name).cloned() else {
            return Err(self.unknown_column(&stage, &column.name, column.at));
        };
        if found.ty != Type::Dynamic {
            return Err(self.error(
                column.at,
                format!(
                    "mv-expand expands a dynamic column; '{}' is a {}",
                    found.name,
                    found.ty.name()
                ),
            ));
        }
        let ty = match to.map(|t| t.name.as_str()) {
            None | Some("dynamic") => Type::Dynamic,
            Some("string") => Type::String,
            Some("long" | "int") => Type::Long,
            Some("real" | "double") => Type::Real,
            Some("bool" | "boolean") => Type::Bool,
            Some(other) => {
                return Err(self.error(
                    to.map_or(column.at, |t| t.at),
                    format!("mv-expand converts to string, long, int, real, double, bool or dynamic, not '{other}'"),
                ));
            }
        };
        let q = quote(&column.name);
        let element = Typed::sql(
            Type::Dynamic,
            match self.dialect {
                Dialect::Sqlite => "(t.__array -> e.fullkey)".to_string(),
                Dialect::Postgres => "e.value".to_string(),
            },
        );
        let converted = self.dynamic_as(element, ty);
        let value = self.emit(&converted);
        let select: Vec<String> = stage
            .columns
            .iter()
            .map(|c| {
                if c.name == column.name {
                    format!("{value} AS {q}")
                } else {
                    format!("t.{}", quote(&c.name))
                }
            })
            .collect();
        let mut select = select;
        if stage.ordered {
            // A row's elements in their order, where its row was.
            let index = match self.dialect {
                Dialect::Sqlite => "e.key",
                Dialect::Postgres => "e.n",
            };
            select.push(format!(
                "ROW_NUMBER() OVER (ORDER BY t.{}, {index}) AS {}",
                super::ORDER,
                super::ORDER
            ));
        }
        let array = self.dialect.dynamic_operand(&format!("t0.{q}"));
        let inner_select = if stage.ordered {
            format!("{}, {}", super::select_list(&stage.columns), super::ORDER)
        } else {
            super::select_list(&stage.columns)
        };
        let from = format!(
            "(SELECT {inner_select}, {array} AS __array FROM ({}) AS t0) AS t",
            stage.sql
        );
        let sql = match self.dialect {
            Dialect::Sqlite => format!(
                "SELECT {} FROM {from} LEFT JOIN json_each(CASE WHEN json_type(t.__array) = 'array' THEN t.__array END) AS e ON 1",
                select.join(", ")
            ),
            Dialect::Postgres => format!(
                "SELECT {} FROM {from} LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.__array) = 'array' \
                 THEN t.__array END) WITH ORDINALITY AS e(value, n) ON true",
                select.join(", ")
            ),
        };
        let columns = stage
            .columns
            .iter()
            .map(|c| {
                if c.name == column.name {
                    Column::new(&c.name, ty)
                } else {
                    c.clone()
                }
            })
            .collect();
        Ok(Stage {
            sql,
            columns,
            ordered: stage.ordered,
        })
    }
}

enum Path {
    Index(i64),
    /// Counted from the end: 1 is the last.
    Back(i64),
    Key(String),
}

/// The elements, as text, of a constant dynamic array (or the one constant
/// string) in a `has_any` or `in` list.
pub(super) fn constant_elements(typed: &Typed) -> Vec<String> {
    match typed.as_const() {
        Some(Const::Dynamic(serde_json::Value::Array(items))) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Const::Dynamic(serde_json::Value::String(s)) | Const::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}
