//! Software across the fleet: names, their versions, the machines that
//! have each. Read through the index on (name, version, machine), so that
//! a name's figures cost one walk over that name's entries (versions are
//! told apart by their bytes: cheaper than the database's collation).

use super::PAGE_ROWS;
use crate::database::{Database, DatabaseError};

/// A software name: how many versions and machines have it.
#[derive(Debug, Clone)]
pub struct SoftwareName {
    pub name: String,
    pub versions: i64,
    pub machines: i64,
}

/// Names a page shows: each costs a walk over its installations, which a
/// fleet has as many of as machines.
pub const NAMES_PAGE_ROWS: i64 = 20;

impl Database {
    /// Names containing `search` (any case), by name, after `after`: a
    /// page and one more when there are more. Distinct names are found by
    /// skipping through the index one name at a time.
    pub async fn software_names(&self, search: &str, after: &str) -> Result<Vec<SoftwareName>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH RECURSIVE revoked AS (SELECT machine_id FROM machine WHERE revoked_at IS NOT NULL), \
                 names(name) AS ( \
                     (SELECT \"SoftwareName\" FROM \"ConfigurationData\" \
                      WHERE \"SoftwareName\" IS NOT NULL AND \"SoftwareName\" > $2 \
                      ORDER BY \"SoftwareName\" LIMIT 1) \
                     UNION ALL \
                     SELECT (SELECT \"SoftwareName\" FROM \"ConfigurationData\" \
                             WHERE \"SoftwareName\" IS NOT NULL AND \"SoftwareName\" > names.name \
                             ORDER BY \"SoftwareName\" LIMIT 1) \
                     FROM names WHERE names.name IS NOT NULL) \
                 SELECT n.name, counted.versions, counted.machines \
                 FROM (SELECT name FROM names \
                       WHERE name IS NOT NULL AND strpos(lower(name), lower($1)) > 0 \
                       LIMIT $3) n, \
                 LATERAL (SELECT count(DISTINCT \"CurrentVersion\" COLLATE \"C\") AS versions, \
                                 count(DISTINCT machine_id) AS machines \
                          FROM \"ConfigurationData\" \
                          WHERE \"SoftwareName\" = n.name \
                          AND machine_id NOT IN (SELECT machine_id FROM revoked)) counted",
                &[&search, &after, &(NAMES_PAGE_ROWS + 1)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SoftwareName {
                name: row.get(0),
                versions: row.get(1),
                machines: row.get(2),
            })
            .collect())
    }

    /// A name's versions with how many machines have each, by version.
    pub async fn software_versions(&self, name: &str) -> Result<Vec<(Option<String>, i64)>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT \"CurrentVersion\", count(DISTINCT machine_id) FROM \"ConfigurationData\" \
                 WHERE \"SoftwareName\" = $1 \
                 AND machine_id NOT IN (SELECT machine_id FROM machine WHERE revoked_at IS NOT NULL) \
                 GROUP BY 1 ORDER BY 1",
                &[&name],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The enrolled machines with a name (at `version` when given; an
    /// empty one is none), by machine name after `after`, each with its
    /// versions of it: (id, name, versions); a page and one more.
    pub async fn software_machines(
        &self,
        name: &str,
        version: Option<&str>,
        after: &str,
    ) -> Result<Vec<(i64, String, String)>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT m.machine_id, m.name, \
                        string_agg(DISTINCT coalesce(d.\"CurrentVersion\", ''), ', ') \
                 FROM \"ConfigurationData\" d JOIN machine m USING (machine_id) \
                 WHERE d.\"SoftwareName\" = $1 AND ($2::text IS NULL OR coalesce(d.\"CurrentVersion\", '') = $2) \
                 AND m.revoked_at IS NULL AND m.name COLLATE \"C\" > $3 \
                 GROUP BY 1, 2 ORDER BY m.name COLLATE \"C\" LIMIT $4",
                &[&name, &version, &after, &(PAGE_ROWS + 1)],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect())
    }
}
