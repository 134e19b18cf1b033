//! What differs between the SQL of the two stores. The translation is one;
//! it asks the dialect for the few spellings that are not shared.

use crate::Type;
use crate::translate::Param;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// The agent's store: times are fixed-width RFC 3339 text, booleans
    /// integers, parameters `?N`.
    #[default]
    Sqlite,
    /// The fleet server's store: times are `timestamptz`, parameters `$N`
    /// with their type spelled out (PostgreSQL cannot infer the type of a
    /// parameter compared with another parameter).
    Postgres,
}

impl Dialect {
    /// The placeholder for parameter `n` (1-based), which holds `param`.
    pub(crate) fn placeholder(self, n: usize, param: &Param) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => match param {
                Param::Text(_) => format!("${n}::text"),
                Param::Long(_) => format!("${n}::int8"),
                Param::Real(_) => format!("${n}::float8"),
                Param::Bool(_) => format!("${n}::bool"),
                // Bound as RFC 3339 text: no date-time type in the client's API.
                Param::Time(_) => format!("(${n}::text)::timestamptz"),
            },
        }
    }

    /// An expression of type `ty` as text, for the string functions and
    /// `tostring`: times as the agent stores them (RFC 3339, UTC,
    /// microseconds), whatever the session's time zone.
    pub(crate) fn text_of(self, sql: &str, ty: Type) -> String {
        match (self, ty) {
            (_, Type::String) => sql.to_string(),
            // A string inside is itself, without quotes; arrays and bags
            // their JSON, compact, properties in name order (both stores'
            // `kql_json_text`).
            (_, Type::Dynamic) => format!("kql_json_text({sql})"),
            (Dialect::Postgres, Type::Datetime) => {
                format!("to_char({sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            _ => format!("CAST({sql} AS TEXT)"),
        }
    }

    /// What follows a string where its order matters (sorting, `min`,
    /// `max`): KQL orders strings by their characters' codes, as SQLite
    /// does; PostgreSQL by the database's collation unless told.
    pub(crate) fn ordinal(self, is_text: bool) -> &'static str {
        match self {
            Dialect::Postgres if is_text => " COLLATE \"C\"",
            _ => "",
        }
    }

    /// How a sort key without `nulls first|last` places nulls: KQL puts
    /// them first ascending and last descending, as SQLite does;
    /// PostgreSQL does the opposite, so it is told.
    pub(crate) fn default_nulls(self, descending: bool) -> &'static str {
        match (self, descending) {
            (Dialect::Sqlite, _) => "",
            (Dialect::Postgres, true) => " NULLS LAST",
            (Dialect::Postgres, false) => " NULLS FIRST",
        }
    }

    /// A null of type `ty`: PostgreSQL needs the type where a union's
    /// tables disagree on whether they have a column.
    pub(crate) fn null_of(self, ty: Type) -> &'static str {
        match (self, ty) {
            (Dialect::Sqlite, _) => "NULL",
            (Dialect::Postgres, Type::String | Type::Decimal) => "CAST(NULL AS text)",
            (Dialect::Postgres, Type::Long | Type::Timespan) => "CAST(NULL AS int8)",
            (Dialect::Postgres, Type::Real) => "CAST(NULL AS float8)",
            (Dialect::Postgres, Type::Bool) => "CAST(NULL AS bool)",
            (Dialect::Postgres, Type::Datetime) => "CAST(NULL AS timestamptz)",
            (Dialect::Postgres, Type::Dynamic) => "CAST(NULL AS jsonb)",
        }
    }

    /// A datetime as microseconds since 1970 (`int8`).
    pub(crate) fn micros_of(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => format!("kql_micros({sql})"),
            // `extract` gives an exact numeric.
            Dialect::Postgres => format!("CAST(EXTRACT(EPOCH FROM {sql}) * 1000000 AS int8)"),
        }
    }

    /// Microseconds since 1970 as a datetime.
    pub(crate) fn datetime_of(self, micros: &str) -> String {
        match self {
            Dialect::Sqlite => format!("kql_datetime({micros})"),
            Dialect::Postgres => format!("(TIMESTAMPTZ 'epoch' + ({micros}) * INTERVAL '1 microsecond')"),
        }
    }

    /// The largest whole number not above a real, as a real.
    pub(crate) fn floor(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => format!("kql_floor({sql})"),
            Dialect::Postgres => format!("floor({sql})"),
        }
    }

    /// A real rounded half away from zero to `digits` decimals.
    pub(crate) fn round(self, sql: &str, digits: &str) -> String {
        match self {
            Dialect::Sqlite => format!("round({sql}, {digits})"),
            Dialect::Postgres => format!("CAST(round(CAST({sql} AS numeric), CAST({digits} AS int4)) AS float8)"),
        }
    }

    /// A string read as a long or real, null where it is not one (KQL's
    /// `tolong("x")`); SQL's casts give 0 or fail instead.
    pub(crate) fn parse_number(self, sql: &str, ty: Type) -> String {
        match (self, ty) {
            (Dialect::Sqlite, Type::Long) => format!("kql_tolong({sql})"),
            (Dialect::Sqlite, _) => format!("kql_toreal({sql})"),
            (Dialect::Postgres, Type::Long) => {
                format!("(CASE WHEN {sql} ~ '^\\s*[-+]?[0-9]{{1,18}}\\s*$' THEN CAST(trim({sql}) AS int8) END)")
            }
            (Dialect::Postgres, _) => format!(
                "(CASE WHEN {sql} ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]{{1,3}})?\\s*$' \
                 THEN CAST(trim({sql}) AS float8) END)"
            ),
        }
    }

    /// A real truncated toward zero, as a long (PostgreSQL's cast rounds).
    pub(crate) fn truncate(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({sql} AS INTEGER)"),
            Dialect::Postgres => format!("CAST(trunc({sql}) AS int8)"),
        }
    }

    /// JSON text (a bound parameter) as the store's dynamic value.
    pub(crate) fn json_of_text(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json({sql})"),
            Dialect::Postgres => format!("CAST({sql} AS jsonb)"),
        }
    }

    /// A dynamic value read back from a column: SQLite forgets that text
    /// from a subquery is JSON, so it is told again.
    pub(crate) fn dynamic_operand(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json({sql})"),
            Dialect::Postgres => sql.to_string(),
        }
    }

    /// `parse_version()`: up to four parts of up to 8 digits, as 32
    /// fixed-width digits; null for anything else.
    pub(crate) fn parse_version(self, text: &str) -> String {
        match self {
            Dialect::Sqlite => format!("kql_parse_version({text})"),
            Dialect::Postgres => {
                let part = |n: usize| format!("lpad(split_part(trim({text}), '.', {n}), 8, '0')");
                format!(
                    "(CASE WHEN trim({text}) ~ '^[0-9]{{1,8}}(\\.[0-9]{{1,8}}){{0,3}}$' THEN {} || {} || {} || {} END)",
                    part(1),
                    part(2),
                    part(3),
                    part(4)
                )
            }
        }
    }

    /// A datetime down to a multiple of `step` microseconds from 0001-01-01
    /// (`floor_to` does it on microseconds since 1970).
    pub(crate) fn bin_datetime(self, sql: &str, step: &str, floor_to: impl Fn(&str, &str) -> String) -> String {
        match self {
            Dialect::Sqlite => self.datetime_of(&floor_to(&self.micros_of(sql), step)),
            // Native, and many times faster than arithmetic on the epoch.
            Dialect::Postgres => {
                format!("date_bin(({step}) * INTERVAL '1 microsecond', {sql}, TIMESTAMPTZ '0001-01-01 00:00:00+00')")
            }
        }
    }
}
