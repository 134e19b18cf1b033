//! What the console's overview shows: the fleet at a glance.

use std::time::SystemTime;

use super::{Database, DatabaseError};

pub struct Overview {
    /// (OS, machines), enrolled machines only.
    pub machines_by_os: Vec<(String, i64)>,
    /// Enrolled machines not heard from for a day: (name, last seen).
    pub silent: Vec<(String, Option<SystemTime>)>,
    /// (ConfigChangeType, changes) in the last 24 hours.
    pub changes_by_type: Vec<(String, i64)>,
}

/// Most silent machines listed.
const SILENT_LISTED: i64 = 100;

impl Database {
    pub async fn overview(&self) -> Result<Overview, DatabaseError> {
        let client = self.client().await?;
        let by_os = client
            .query(
                "SELECT os, count(*) FROM machine WHERE revoked_at IS NULL GROUP BY os ORDER BY os COLLATE \"C\"",
                &[],
            )
            .await?;
        let silent = client
            .query(
                "SELECT name, last_seen FROM machine WHERE revoked_at IS NULL \
                 AND (last_seen IS NULL OR last_seen < now() - interval '1 day') \
                 ORDER BY last_seen NULLS FIRST, name COLLATE \"C\" LIMIT $1",
                &[&SILENT_LISTED],
            )
            .await?;
        let changes = client
            .query(
                "SELECT \"ConfigChangeType\", count(*) FROM \"ConfigurationChange\" \
                 WHERE \"TimeGenerated\" > now() - interval '1 day' \
                 GROUP BY \"ConfigChangeType\" ORDER BY \"ConfigChangeType\" COLLATE \"C\"",
                &[],
            )
            .await?;
        let pairs = |rows: &[tokio_postgres::Row]| rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(Overview {
            machines_by_os: pairs(&by_os),
            silent: silent.iter().map(|row| (row.get(0), row.get(1))).collect(),
            changes_by_type: pairs(&changes),
        })
    }
}
