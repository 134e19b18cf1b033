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
}
