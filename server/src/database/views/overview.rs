//! What the console's overview shows: the fleet at a glance.

use std::time::SystemTime;

use crate::database::{Database, DatabaseError};

pub struct Overview {
    /// (OS, machines), enrolled machines only.
    pub machines_by_os: Vec<(String, i64)>,
    /// Enrolled machines not heard from for a day: (id, name, last seen).
    pub silent: Vec<(i64, String, Option<SystemTime>)>,
    /// Collectors whose last run failed, on enrolled machines.
    pub failing: Vec<FailingCollector>,
}

pub struct FailingCollector {
    pub machine_id: i64,
    pub machine: String,
    pub collector: String,
    pub last_run: SystemTime,
    pub error: Option<String>,
}

/// Most silent machines and failing collectors listed.
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
                "SELECT machine_id, name, last_seen FROM machine WHERE revoked_at IS NULL \
                 AND (last_seen IS NULL OR last_seen < now() - interval '1 day') \
                 ORDER BY last_seen NULLS FIRST, name COLLATE \"C\" LIMIT $1",
                &[&SILENT_LISTED],
            )
            .await?;
        let failing = client
            .query(
                "SELECT m.machine_id, m.name, c.collector, c.last_run, c.error \
                 FROM collector_status c JOIN machine m USING (machine_id) \
                 WHERE c.outcome = 'Failed' AND m.revoked_at IS NULL \
                 ORDER BY c.last_run DESC LIMIT $1",
                &[&SILENT_LISTED],
            )
            .await?;
        Ok(Overview {
            machines_by_os: by_os.iter().map(|row| (row.get(0), row.get(1))).collect(),
            silent: silent.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect(),
            failing: failing
                .iter()
                .map(|row| FailingCollector {
                    machine_id: row.get(0),
                    machine: row.get(1),
                    collector: row.get(2),
                    last_run: row.get(3),
                    error: row.get(4),
                })
                .collect(),
        })
    }
}
