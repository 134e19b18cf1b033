//! Regular expressions: `matches regex`, `extract`, `replace_regex` (and
//! the older `replace`), and the `parse` operator, which becomes one
//! expression with a capture per column. Patterns are RE2's as Kusto takes
//! them; the agent runs them with Rust's `regex` (the same syntax), the
//! server with PostgreSQL's (the same for classes, groups, repetition and
//! anchors; PostgreSQL 15 or later for `extract`).

use super::{Stage, Translator, Typed};
use crate::ast::*;
use crate::{Column, Dialect, Param, QueryError, Type};

pub(super) const FUNCTIONS: &[&str] = &["extract", "replace_regex", "replace", "parse_version"];

impl Translator<'_> {
    fn regex_extract(&self, pattern: &str, group: &str, text: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("kql_extract({pattern}, {group}, {text})"),
            Dialect::Postgres => format!("regexp_substr({text}, {pattern}, 1, 1, '', CAST({group} AS int4))"),
        }
    }

    /// A pattern as the store's engine reads it: PostgreSQL spells RE2's
    /// `\b`, `\B` and `\z` as `\y`, `\Y` and `\Z`, and names no groups.
    fn pattern(&mut self, typed: &Typed) -> String {
        match (self.dialect, typed.as_const()) {
            (Dialect::Postgres, Some(super::Const::Str(re2))) => {
                let translated = postgres_pattern(re2);
                self.bind(Param::Text(translated))
            }
            _ => self.emit(typed),
        }
    }

    /// `subject matches regex pattern`.
    pub(super) fn matches(&mut self, stage: &Stage, subject: &Expr, pattern: &Expr) -> Result<Typed, QueryError> {
        let s = self.expr(subject, stage)?;
        let p = self.expr(pattern, stage)?;
        if p.ty != Type::String {
            return Err(self.error(pattern.at, "'matches regex' needs a pattern (a string)"));
        }
        let s = self.dynamic_as(s, Type::String);
        let (s, p) = (self.emit_text(&s), self.pattern(&p));
        Ok(Typed::sql(
            Type::Bool,
            match self.dialect {
                Dialect::Sqlite => format!("kql_regex({s}, {p})"),
                Dialect::Postgres => format!("({s} ~ {p})"),
            },
        ))
    }

    pub(super) fn regex_call(&mut self, stage: &Stage, name: &Name, args: &[Expr]) -> Result<Typed, QueryError> {
        let function = name.name.as_str();
        if function == "parse_version" {
            let [arg] = args else {
                return Err(self.error(name.at, "parse_version() takes 1 argument"));
            };
            let value = self.expr(arg, stage)?;
            if value.ty != Type::String {
                return Err(self.error(arg.at, "parse_version() reads a string"));
            }
            let text = self.emit(&value);
            return Ok(Typed::sql(Type::Decimal, self.dialect.parse_version(&text)));
        }
        let arity: &[usize] = if function == "extract" { &[3, 4] } else { &[3] };
        if !arity.contains(&args.len()) {
            return Err(self.error(
                name.at,
                format!(
                    "{function}() takes {} arguments",
                    if function == "extract" { "3 or 4" } else { "3" }
                ),
            ));
        }
        // extract(regex, group, text[, typeof(T)])
        let ty = match args.get(3).map(|a| &a.kind) {
            None => Type::String,
            Some(ExprKind::Call(call, inner)) if call.name == "typeof" && inner.len() == 1 => match &inner[0].kind {
                ExprKind::Column(t) => {
                    type_named(t).ok_or_else(|| self.error(inner[0].at, format!("unknown type '{t}'")))?
                }
                _ => return Err(self.error(args[3].at, "expected typeof(long), typeof(string), ...")),
            },
            Some(_) => return Err(self.error(args[3].at, "expected typeof(long), typeof(string), ...")),
        };
        let typed: Vec<Typed> = args[..3]
            .iter()
            .map(|a| self.expr(a, stage))
            .collect::<Result<_, _>>()?;
        let (pattern_at, text_at) = match function {
            "extract" => (0, 2),
            "replace" => (0, 2),
            _ => (1, 0),
        };
        if typed[pattern_at].ty != Type::String {
            return Err(self.error(
                args[pattern_at].at,
                format!("{function}() needs a pattern (a string) here"),
            ));
        }
        let text = self.dynamic_as(typed[text_at].clone(), Type::String);
        let text = self.emit_text(&text);
        let pattern = self.pattern(&typed[pattern_at]);
        if function == "extract" {
            if typed[1].ty != Type::Long {
                return Err(self.error(args[1].at, "extract() needs the capture group's number here"));
            }
            let group = self.emit(&typed[1]);
            let found = Typed::sql(Type::String, self.regex_extract(&pattern, &group, &text));
            return Ok(self.converted(found, ty));
        }
        let rewrite_at = if function == "replace" { 1 } else { 2 };
        let rewrite = self.emit_text(&typed[rewrite_at]);
        Ok(Typed::sql(
            Type::String,
            match self.dialect {
                Dialect::Sqlite => format!("kql_replace_regex({text}, {pattern}, {rewrite})"),
                Dialect::Postgres => format!("regexp_replace({text}, {pattern}, {rewrite}, 'g')"),
            },
        ))
    }

    /// A string converted to `ty` as `extract()` and `parse` convert.
    fn converted(&mut self, text: Typed, ty: Type) -> Typed {
        let sql = self.emit(&text);
        match ty {
            Type::Long | Type::Real => Typed::sql(ty, self.dialect.parse_number(&sql, ty)),
            Type::Bool => Typed::sql(Type::Bool, format!("(lower({sql}) = 'true')")),
            _ => text,
        }
    }

    /// `parse Column with * "a" Name "b" Other:long ...`: a column per
    /// name, from the text between the constants; null where the text
    /// does not have that shape.
    pub(super) fn parse_columns(
        &mut self,
        stage: Stage,
        column: &Expr,
        pieces: &[ParsePiece],
    ) -> Result<Stage, QueryError> {
        let subject = self.expr(column, &stage)?;
        let subject = self.dynamic_as(subject, Type::String);
        let mut pattern = String::from("^");
        let mut names: Vec<(Name, Type)> = Vec::new();
        let last_is_column = matches!(pieces.last(), Some(ParsePiece::Column(..)));
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            match piece {
                ParsePiece::Any => pattern.push_str(if last { ".*" } else { ".*?" }),
                ParsePiece::Text(text) => pattern.push_str(&escape(text)),
                ParsePiece::Column(name, ty) => {
                    self.check_new_name(name)?;
                    let ty = match ty {
                        None => Type::String,
                        Some(t) => {
                            type_named(&t.name).ok_or_else(|| self.error(t.at, format!("unknown type '{}'", t.name)))?
                        }
                    };
                    pattern.push_str(if last { "(.*)" } else { "(.*?)" });
                    names.push((name.clone(), ty));
                }
            }
        }
        if last_is_column {
            pattern.push('$');
        }
        // Newlines are text like any other.
        let pattern = format!("(?s){pattern}");
        let text = self.emit_text(&subject);
        // Every column from the text as it was, in one step.
        let mut parsed = Vec::new();
        for (group, (name, ty)) in names.iter().enumerate() {
            let p = self.bind(Param::Text(pattern.clone()));
            let g = self.bind(Param::Long(group as i64 + 1));
            let found = Typed::sql(Type::String, self.regex_extract(&p, &g, &text));
            let value = self.converted(found, *ty);
            parsed.push((name.name.clone(), self.emit(&value), *ty));
        }
        let mut select = Vec::new();
        let mut columns = Vec::new();
        for c in &stage.columns {
            match parsed.iter().find(|(name, _, _)| *name == c.name) {
                Some((name, sql, ty)) => {
                    select.push(format!("{sql} AS {}", super::quote(name)));
                    columns.push(Column::new(name, *ty));
                }
                None => {
                    select.push(super::quote(&c.name));
                    columns.push(c.clone());
                }
            }
        }
        for (name, sql, ty) in &parsed {
            if stage.find(name).is_none() {
                select.push(format!("{sql} AS {}", super::quote(name)));
                columns.push(Column::new(name, *ty));
            }
        }
        self.check_unique(&columns, column.at)?;
        let stage = stage.reselect(select, columns);
        Ok(stage)
    }
}

/// An RE2 pattern in PostgreSQL's spelling (see `Translator::pattern`).
fn postgres_pattern(re2: &str) -> String {
    let mut out = String::new();
    let mut chars = re2.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('b') => out.push_str("\\y"),
                Some('B') => out.push_str("\\Y"),
                Some('z') => out.push_str("\\Z"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            // `(?P<name>` and `(?<name>`: a plain group.
            '(' if chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("?P<")
                    || (rest.starts_with("?<") && !rest.starts_with("?<=") && !rest.starts_with("?<!"))
                {
                    for skipped in chars.by_ref() {
                        if skipped == '>' {
                            break;
                        }
                    }
                }
                out.push('(');
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as a pattern that matches it literally.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn type_named(name: &str) -> Option<Type> {
    Some(match name {
        "string" => Type::String,
        "long" | "int" => Type::Long,
        "real" | "double" => Type::Real,
        "bool" | "boolean" => Type::Bool,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn re2_patterns_in_postgresql_spelling() {
        use super::postgres_pattern as pg;
        assert_eq!(pg(r"\bssh\b"), r"\yssh\y");
        assert_eq!(pg(r"a\\b"), r"a\\b", "an escaped backslash then b");
        assert_eq!(pg(r"(?P<major>\d+)\.(?<minor>\d+)\z"), r"(\d+)\.(\d+)\Z");
        assert_eq!(pg(r"(?:x)(?i)(?<=a)"), r"(?:x)(?i)(?<=a)");
    }
}
