//! How each machine's collectors last ran, as their agents report it.

use driftwatch_protocol::{CollectorHealth, Heartbeat};

use super::machines::MachineId;
use super::{Database, DatabaseError};

impl Database {
    /// Adds the machine's `Heartbeat` row for a report: the facts its agent
    /// gave (none from agents that predate them), the address it called from;
    /// at most one a minute per machine, whatever it sends.
    pub async fn record_heartbeat(
        &self,
        machine: &MachineId,
        beat: Option<&Heartbeat>,
        address: Option<String>,
    ) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO \"Heartbeat\" (machine_id, \"Computer\", \"Category\", \"OSType\", \"OSName\", \
                 \"OSMajorVersion\", \"OSMinorVersion\", \"Version\", \"ComputerIP\", \"ComputerEnvironment\") \
                 SELECT $1::bigint, $2::text, 'Direct Agent', $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, 'Non-Azure' \
                 WHERE NOT EXISTS (SELECT 1 FROM \"Heartbeat\" WHERE machine_id = $1 \
                                   AND \"TimeGenerated\" > now() - interval '1 minute')",
            )
            .await?;
        let text = |pick: fn(&Heartbeat) -> &String| beat.map(|b| pick(b).clone());
        client
            .execute(
                &insert,
                &[
                    &machine.id,
                    &machine.name,
                    &text(|b| &b.os_type),
                    &text(|b| &b.os_name),
                    &text(|b| &b.os_major_version),
                    &text(|b| &b.os_minor_version),
                    &text(|b| &b.version),
                    &address,
                ],
            )
            .await?;
        Ok(())
    }

    /// Replaces what the machine last reported of its collectors.
    pub async fn note_collector_health(
        &self,
        machine: &MachineId,
        collectors: &[CollectorHealth],
        times: &[CollectorTimes],
    ) -> Result<(), DatabaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM collector_status WHERE machine_id = $1", &[&machine.id])
            .await?;
        let column =
            |pick: fn(&CollectorHealth) -> Option<&str>| -> Vec<Option<&str>> { collectors.iter().map(pick).collect() };
        let names = column(|c| Some(&c.collector));
        let plugins = column(|c| Some(&c.plugin));
        let versions = column(|c| c.plugin_version.as_deref());
        let outcomes = column(|c| Some(&c.outcome));
        let errors = column(|c| c.error.as_deref());
        let failure_errors = column(|c| c.last_failure_error.as_deref());
        let durations: Vec<i64> = collectors.iter().map(|c| c.duration_ms).collect();
        let items: Vec<Option<i64>> = collectors.iter().map(|c| c.items).collect();
        let changes: Vec<Option<i64>> = collectors.iter().map(|c| c.changes).collect();
        let last_run: Vec<std::time::SystemTime> = times.iter().map(|t| t.last_run).collect();
        let last_success: Vec<Option<std::time::SystemTime>> = times.iter().map(|t| t.last_success).collect();
        let last_failure: Vec<Option<std::time::SystemTime>> = times.iter().map(|t| t.last_failure).collect();
        tx.execute(
            "INSERT INTO collector_status (machine_id, collector, plugin, plugin_version, last_run, outcome, error, \
                 duration_ms, items, changes, last_success, last_failure, last_failure_error) \
             SELECT $1::bigint, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], \
                 $8::bigint[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::timestamptz[], $13::text[]) \
             ON CONFLICT (machine_id, collector) DO NOTHING",
            &[
                &machine.id,
                &names,
                &plugins,
                &versions,
                &last_run,
                &outcomes,
                &errors,
                &durations,
                &items,
                &changes,
                &last_success,
                &last_failure,
                &failure_errors,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A report's times, parsed.
pub struct CollectorTimes {
    pub last_run: std::time::SystemTime,
    pub last_success: Option<std::time::SystemTime>,
    pub last_failure: Option<std::time::SystemTime>,
}
