//! Running translated KQL queries (see `crate::query`) against the store.

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::{Store, StoreError, schema};
use crate::query::{Catalog, Cell, Compiled, QueryResult, Type};

/// The tables queries read.
const QUERY_TABLES: [&str; 3] = ["ConfigurationChange", "ConfigurationData", "Heartbeat"];

impl Store {
    /// The queryable tables and their columns, as this database has them.
    pub fn catalog(&self) -> Result<Catalog, StoreError> {
        catalog_of(&self.conn).map_err(|e| self.error(e))
    }

    /// Runs a translated query; rows come back in the query's order.
    pub fn query(&self, compiled: &Compiled) -> Result<QueryResult, StoreError> {
        let mut statement = self.conn.prepare(&compiled.sql).map_err(|e| self.error(e))?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(
                compiled.params.iter().map(crate::query::sqlite_value),
            ))
            .map_err(|e| self.error(e))?;
        let mut result = QueryResult {
            columns: compiled.columns.clone(),
            rows: Vec::new(),
        };
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let mut cells = Vec::with_capacity(compiled.columns.len());
            for (i, column) in compiled.columns.iter().enumerate() {
                let value = row.get_ref(i).map_err(|e| self.error(e))?;
                cells.push(cell(value, column.ty).typed(column.ty));
            }
            result.rows.push(cells);
        }
        Ok(result)
    }
}

/// The catalog of the current schema, without a state database: for
/// checking queries in a manifest.
pub fn schema_catalog() -> Catalog {
    let build = || -> rusqlite::Result<Catalog> {
        let conn = Connection::open_in_memory()?;
        for migration in schema::MIGRATIONS {
            conn.execute_batch(migration)?;
        }
        catalog_of(&conn)
    };
    // The migrations are fixed text that the tests apply: this cannot fail
    // short of SQLite being unable to allocate.
    build().unwrap_or_default()
}

fn catalog_of(conn: &Connection) -> rusqlite::Result<Catalog> {
    let mut catalog = Catalog::default();
    for table in QUERY_TABLES {
        let mut statement = conn.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
        let columns = statement
            .query_map([table], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        catalog.add_table(table, &columns);
    }
    Ok(catalog)
}

fn cell(value: ValueRef<'_>, ty: Type) -> Cell {
    match (value, ty) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(n), Type::Bool) => Cell::Bool(n != 0),
        (ValueRef::Integer(n), _) => Cell::Long(n),
        (ValueRef::Real(r), _) => Cell::Real(r),
        (ValueRef::Text(t), _) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(raw), _) => Cell::Text(crate::exact_path::display(raw)),
    }
}
