//! Datetime and number functions: `bin`, `startofday`, `hourofday`,
//! `dayofweek`, `datetime_diff`, `format_datetime`, `round`, `tolong`, ...
//!
//! Times are computed on as microseconds since 1970 (the dialect converts
//! to and from its time type) and read as parts from their fixed-width
//! text (`2026-11-25T08:30:00.000000Z`, which both stores give): exact, and
//! one translation for both.

use super::{Const, Stage, Translator, Typed};
use crate::ast::*;
use crate::{QueryError, Type};

pub(super) const FUNCTIONS: &[&str] = &[
    "bin",
    "floor",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "endofweek",
    "hourofday",
    "dayofweek",
    "dayofmonth",
    "getyear",
    "getmonth",
    "monthofyear",
    "datetime_diff",
    "format_datetime",
    "round",
    "tolong",
    "toint",
    "todouble",
    "toreal",
];

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Kusto bins datetimes from 0001-01-01 (a Monday), 719,162 days before 1970.
const BIN_ORIGIN: i64 = 719_162 * MICROS_PER_DAY;
/// 1970-01-01 was a Thursday; weeks start on Sunday, 3 days later.
const SUNDAY_OFFSET: i64 = 3 * MICROS_PER_DAY;

/// `a` rounded down to a multiple of `step` (a positive constant's SQL),
/// for negative `a` too (SQL's `%` keeps the dividend's sign).
fn floor_to(a: &str, step: &str) -> String {
    format!("({a} - ((({a}) % {step}) + {step}) % {step})")
}

impl Translator<'_> {
    pub(super) fn time_call(&mut self, stage: &Stage, name: &Name, args: &[Expr]) -> Result<Typed, QueryError> {
        let function = name.name.as_str();
        let arity: &[usize] = match function {
            "bin" | "floor" | "format_datetime" => &[2],
            "datetime_diff" => &[3],
            "round" => &[1, 2],
            _ => &[1],
        };
        let typed = self.call_arguments(stage, name, args, arity)?;
        let need = |this: &Self, i: usize, ok: bool, what: &str| this.require(function, &args[i], ok, what);
        match function {
            "bin" | "floor" => self.bin(function, &typed, args),
            "startofday" | "startofweek" | "endofday" | "endofweek" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                let (step, offset) = if function.ends_with("day") {
                    (MICROS_PER_DAY, 0)
                } else {
                    (7 * MICROS_PER_DAY, SUNDAY_OFFSET)
                };
                let micros = self.micros(&typed[0]);
                let start = format!(
                    "({} + {offset})",
                    floor_to(&format!("({micros} - {offset})"), &step.to_string())
                );
                let micros = if function.starts_with("end") {
                    format!("({start} + {})", step - 1)
                } else {
                    start
                };
                Ok(Typed::sql(Type::Datetime, self.dialect.datetime_of(&micros)))
            }
            "startofmonth" | "startofyear" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                let text = self.time_text(&typed[0]);
                let (keep, rest) = if function == "startofmonth" {
                    (8, "01T00:00:00.000000Z")
                } else {
                    (5, "01-01T00:00:00.000000Z")
                };
                let start = format!("(substr({text}, 1, {keep}) || '{rest}')");
                Ok(Typed::sql(Type::Datetime, self.time_from_text(&start)))
            }
            "hourofday" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                let part = self.time_part(&typed[0], 12, 2);
                Ok(Typed::sql(Type::Long, part))
            }
            "dayofmonth" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                Ok(Typed::sql(Type::Long, self.time_part(&typed[0], 9, 2)))
            }
            "getmonth" | "monthofyear" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                Ok(Typed::sql(Type::Long, self.time_part(&typed[0], 6, 2)))
            }
            "getyear" => {
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                Ok(Typed::sql(Type::Long, self.time_part(&typed[0], 1, 4)))
            }
            "dayofweek" => {
                // A timespan: days since the Sunday before.
                need(self, 0, typed[0].ty == Type::Datetime, "a datetime")?;
                let micros = self.micros(&typed[0]);
                let week = 7 * MICROS_PER_DAY;
                let since_sunday = format!("(((({micros} - {SUNDAY_OFFSET}) % {week}) + {week}) % {week})");
                let days = floor_to(&since_sunday, &MICROS_PER_DAY.to_string());
                Ok(Typed::sql(Type::Timespan, days))
            }
            "datetime_diff" => self.datetime_diff(&typed, args),
            "format_datetime" => self.format_datetime(&typed, args),
            "round" => {
                need(self, 0, typed[0].is_numeric(), "a number")?;
                let digits = match typed.get(1) {
                    Some(d) => {
                        let negative = matches!(d.as_const(), Some(Const::Long(n)) if *n < 0);
                        need(self, 1, d.ty == Type::Long && !negative, "0 or more digits")?;
                        self.emit(d)
                    }
                    None => self.bind(crate::Param::Long(0)),
                };
                let value = self.emit_as(&typed[0], Type::Real);
                Ok(Typed::sql(Type::Real, self.dialect.round(&value, &digits)))
            }
            _ => self.convert(function, &typed[0], &args[0]),
        }
    }

    fn micros(&mut self, typed: &Typed) -> String {
        let sql = self.emit(typed);
        self.dialect.micros_of(&sql)
    }

    /// A datetime's fixed-width text.
    fn time_text(&mut self, typed: &Typed) -> String {
        let sql = self.emit(typed);
        self.dialect.text_of(&sql, Type::Datetime)
    }

    /// Fixed-width datetime text as a datetime of the store.
    fn time_from_text(&self, text: &str) -> String {
        match self.dialect {
            crate::Dialect::Sqlite => text.to_string(),
            crate::Dialect::Postgres => format!("CAST({text} AS timestamptz)"),
        }
    }

    /// Digits `start..start + len` (1-based) of a datetime's text, as a long.
    fn time_part(&mut self, typed: &Typed, start: usize, len: usize) -> String {
        let text = self.time_text(typed);
        format!("CAST(substr({text}, {start}, {len}) AS BIGINT)")
    }

    /// `bin(value, step)`: down to a multiple of a positive constant step;
    /// datetimes by a timespan (from 0001-01-01, as Kusto), numbers by a number.
    fn bin(&mut self, function: &str, typed: &[Typed], args: &[Expr]) -> Result<Typed, QueryError> {
        let (value, step) = (&typed[0], &typed[1]);
        let positive = match step.as_const() {
            Some(Const::Long(n) | Const::Timespan(n)) => *n > 0,
            Some(Const::Real(r)) => *r > 0.0,
            _ => false,
        };
        if !positive {
            return Err(self.error(
                args[1].at,
                format!("{function}() takes a positive constant step (1h, 1d, 10, ...)"),
            ));
        }
        match (value.ty, step.ty) {
            (Type::Datetime, Type::Timespan) => {
                let (value, step) = (self.emit(value), self.emit(step));
                let from_origin = |micros: &str, step: &str| {
                    format!(
                        "({} - {BIN_ORIGIN})",
                        floor_to(&format!("({micros} + {BIN_ORIGIN})"), step)
                    )
                };
                Ok(Typed::sql(
                    Type::Datetime,
                    self.dialect.bin_datetime(&value, &step, from_origin),
                ))
            }
            (Type::Timespan, Type::Timespan) | (Type::Long, Type::Long) => {
                let (v, s) = (self.emit(value), self.emit(step));
                Ok(Typed::sql(value.ty, floor_to(&v, &s)))
            }
            (Type::Long | Type::Real, Type::Long | Type::Real) => {
                let v = self.emit_as(value, Type::Real);
                let s = self.emit_as(step, Type::Real);
                let floored = self.dialect.floor(&format!("({v} / {s})"));
                Ok(Typed::sql(Type::Real, format!("({floored} * {s})")))
            }
            _ => Err(self.error(
                args[0].at,
                format!(
                    "{function}() bins a datetime by a timespan or a number by a number, not a {} by a {}",
                    value.ty.name(),
                    step.ty.name()
                ),
            )),
        }
    }

    /// `datetime_diff(part, a, b)`: how many `part` boundaries lie between
    /// b and a (negative when a is earlier), as Kusto counts them.
    fn datetime_diff(&mut self, typed: &[Typed], args: &[Expr]) -> Result<Typed, QueryError> {
        let Some(Const::Str(part)) = typed[0].as_const() else {
            return Err(self.error(args[0].at, "datetime_diff() takes the part as a constant string"));
        };
        let part = part.to_lowercase();
        for i in [1, 2] {
            if typed[i].ty != Type::Datetime {
                return Err(self.error(args[i].at, "datetime_diff() compares two datetimes"));
            }
        }
        let calendar = |this: &mut Self, t: &Typed, months_per_unit: i64| {
            let year = this.time_part(t, 1, 4);
            let month = this.time_part(t, 6, 2);
            format!("(({year} * 12 + {month} - 1) / {months_per_unit})")
        };
        let sql = match part.as_str() {
            "year" => {
                let (a, b) = (self.time_part(&typed[1], 1, 4), self.time_part(&typed[2], 1, 4));
                format!("({a} - {b})")
            }
            "quarter" | "month" => {
                let per = if part == "quarter" { 3 } else { 1 };
                let (a, b) = (calendar(self, &typed[1], per), calendar(self, &typed[2], per));
                format!("({a} - {b})")
            }
            _ => {
                let (step, offset, scale) = match part.as_str() {
                    "week" => (7 * MICROS_PER_DAY, SUNDAY_OFFSET, 1),
                    "day" => (MICROS_PER_DAY, 0, 1),
                    "hour" => (3_600_000_000, 0, 1),
                    "minute" => (60_000_000, 0, 1),
                    "second" => (1_000_000, 0, 1),
                    "millisecond" => (1_000, 0, 1),
                    "microsecond" => (1, 0, 1),
                    "nanosecond" => (1, 0, 1_000),
                    _ => {
                        return Err(self.error(
                            args[0].at,
                            format!(
                                "unknown part '{part}'; parts: year, quarter, month, week, day, hour, minute, \
                                 second, millisecond, microsecond, nanosecond"
                            ),
                        ));
                    }
                };
                let units = |this: &mut Self, t: &Typed| {
                    let micros = this.micros(t);
                    let shifted = format!("({micros} - {offset})");
                    format!("({} / {step})", floor_to(&shifted, &step.to_string()))
                };
                let (a, b) = (units(self, &typed[1]), units(self, &typed[2]));
                format!("(({a} - {b}) * {scale})")
            }
        };
        Ok(Typed::sql(Type::Long, sql))
    }

    /// `format_datetime(t, "yyyy-MM-dd HH:mm")`: the format is read here,
    /// each specifier taken from the time's fixed-width text.
    fn format_datetime(&mut self, typed: &[Typed], args: &[Expr]) -> Result<Typed, QueryError> {
        if typed[0].ty != Type::Datetime {
            return Err(self.error(args[0].at, "format_datetime() formats a datetime"));
        }
        let Some(Const::Str(format)) = typed[1].as_const() else {
            return Err(self.error(args[1].at, "format_datetime() takes its format as a constant string"));
        };
        if format.is_empty() {
            return Ok(Typed::constant(Const::Str(String::new())));
        }
        let text = self.time_text(&typed[0]);
        let mut pieces = Vec::new();
        let chars: Vec<char> = format.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|&&d| d == c).count();
            i += run;
            let field = |start: usize, len: usize| format!("substr({text}, {start}, {len})");
            let unpadded =
                |start: usize, len: usize| format!("CAST(CAST(substr({text}, {start}, {len}) AS BIGINT) AS TEXT)");
            let hour12 = format!("((CAST(substr({text}, 12, 2) AS BIGINT) + 11) % 12 + 1)");
            let piece = match (c, run) {
                ('y', 4) => field(1, 4),
                ('y', 2) => field(3, 2),
                ('y', 1) => unpadded(3, 2),
                ('M', 2) => field(6, 2),
                ('M', 1) => unpadded(6, 2),
                ('d', 2) => field(9, 2),
                ('d', 1) => unpadded(9, 2),
                ('H', 2) => field(12, 2),
                ('H', 1) => unpadded(12, 2),
                ('h', 2) => format!("(CASE WHEN {hour12} < 10 THEN '0' ELSE '' END || CAST({hour12} AS TEXT))"),
                ('h', 1) => format!("CAST({hour12} AS TEXT)"),
                ('m', 2) => field(15, 2),
                ('m', 1) => unpadded(15, 2),
                ('s', 2) => field(18, 2),
                ('s', 1) => unpadded(18, 2),
                ('f' | 'F', 1..=7) => {
                    // Seven digits of ticks: the seventh is always 0 here.
                    let digits = field(21, run.min(6));
                    if run == 7 { format!("({digits} || '0')") } else { digits }
                }
                ('t', 2) => format!("(CASE WHEN CAST(substr({text}, 12, 2) AS BIGINT) < 12 THEN 'AM' ELSE 'PM' END)"),
                (c, _) if " /-:,._[]".contains(c) => {
                    let literal: String = std::iter::repeat_n(c, run).collect();
                    self.bind(crate::Param::Text(literal))
                }
                _ => {
                    return Err(self.error(
                        args[1].at,
                        format!(
                            "format_datetime() does not know '{}'; formats use y, M, d, H, h, m, s, f, tt and \
                             the separators / - : , . _ [ ] and space",
                            std::iter::repeat_n(c, run).collect::<String>()
                        ),
                    ));
                }
            };
            pieces.push(piece);
        }
        let value = self.emit(&typed[0]);
        Ok(Typed::sql(
            Type::String,
            format!("(CASE WHEN {value} IS NULL THEN '' ELSE {} END)", pieces.join(" || ")),
        ))
    }

    /// `tolong`, `toint`, `todouble`, `toreal`: numbers converted (reals
    /// truncated), strings parsed (null where they are not numbers).
    fn convert(&mut self, function: &str, value: &Typed, arg: &Expr) -> Result<Typed, QueryError> {
        let ty = if matches!(function, "tolong" | "toint") {
            Type::Long
        } else {
            Type::Real
        };
        let value = &self.dynamic_as(value.clone(), Type::String);
        let sql = self.emit(value);
        let converted = match (value.ty, ty) {
            (Type::Long, Type::Long) | (Type::Real, Type::Real) => sql,
            (Type::Real, Type::Long) => self.dialect.truncate(&sql),
            (Type::Long, Type::Real) => format!("CAST({sql} AS DOUBLE PRECISION)"),
            (Type::Bool, _) => format!("(CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} THEN 1 ELSE 0 END)"),
            (Type::String, _) => self.dialect.parse_number(&sql, ty),
            _ => {
                return Err(self.error(
                    arg.at,
                    format!(
                        "{function}() converts numbers, bools and strings, not a {}",
                        value.ty.name()
                    ),
                ));
            }
        };
        let converted = if value.ty == Type::Bool && ty == Type::Real {
            format!("CAST({converted} AS DOUBLE PRECISION)")
        } else {
            converted
        };
        Ok(Typed::sql(ty, converted))
    }
}
