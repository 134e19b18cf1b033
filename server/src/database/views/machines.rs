//! Machines as the console lists them, one machine's collectors and its
//! inventory, by data type.

use std::time::SystemTime;

use super::PAGE_ROWS;
use crate::database::{Database, DatabaseError};

/// A machine in the list or on its page.
#[derive(Debug, Clone)]
pub struct MachineSummary {
    pub id: i64,
    pub name: String,
    pub os: String,
    pub agent_version: String,
    pub groups: Vec<String>,
    pub last_seen: Option<SystemTime>,
    pub last_change: Option<SystemTime>,
    pub revoked: bool,
    /// Collectors whose last run failed.
    pub failing: i64,
}

/// How one collector of a machine last ran, as its agent reported.
#[derive(Debug, Clone)]
pub struct CollectorRow {
    pub collector: String,
    pub plugin: String,
    pub plugin_version: Option<String>,
    pub last_run: SystemTime,
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub items: Option<i64>,
    pub last_success: Option<SystemTime>,
    pub last_failure: Option<SystemTime>,
    pub last_failure_error: Option<String>,
}

/// The inventory tabs: a data type, the columns shown (the first is the
/// item's name, which searches look in) and their headings.
pub struct InventoryTab {
    pub data_type: &'static str,
    pub label: &'static str,
    pub columns: &'static [&'static str],
}

pub const INVENTORY_TABS: [InventoryTab; 5] = [
    InventoryTab {
        data_type: "Software",
        label: "Software",
        columns: &[
            "SoftwareName",
            "CurrentVersion",
            "Publisher",
            "Architecture",
            "InstallState",
        ],
    },
    InventoryTab {
        data_type: "Files",
        label: "Files",
        columns: &[
            "FileSystemPath",
            "FileType",
            "Size",
            "DateModified",
            "FileContentChecksum",
        ],
    },
    InventoryTab {
        data_type: "Registry",
        label: "Registry",
        columns: &["RegistryKey", "ValueName", "ValueType", "ValueData"],
    },
    InventoryTab {
        data_type: "WindowsServices",
        label: "Windows services",
        columns: &["SvcName", "SvcDisplayName", "SvcState", "SvcStartupType", "SvcPath"],
    },
    InventoryTab {
        data_type: "Daemons",
        label: "Daemons",
        columns: &["SvcName", "SvcDescription", "SvcState", "SvcStartupType", "SvcPath"],
    },
];

/// A page of inventory rows: their key (for the next page) and values.
pub struct InventoryPage {
    pub rows: Vec<Vec<Option<String>>>,
    /// Where the next page starts, when there is one: (collector, item key).
    pub next: Option<(String, String)>,
}

const MACHINE_COLUMNS: &str = "m.machine_id, m.name, m.os, m.agent_version, \
     ARRAY(SELECT group_name FROM machine_group g WHERE g.machine_id = m.machine_id ORDER BY 1), \
     m.last_seen, m.last_change, m.revoked_at IS NOT NULL, \
     (SELECT count(*) FROM collector_status c WHERE c.machine_id = m.machine_id AND c.outcome = 'Failed')";

fn summary(row: &tokio_postgres::Row) -> MachineSummary {
    MachineSummary {
        id: row.get(0),
        name: row.get(1),
        os: row.get(2),
        agent_version: row.get(3),
        groups: row.get(4),
        last_seen: row.get(5),
        last_change: row.get(6),
        revoked: row.get(7),
        failing: row.get(8),
    }
}

impl Database {
    /// Enrolled machines whose name contains `search` (any case), by
    /// name, after `after`; one more than a page when there are more.
    pub async fn machine_list(&self, search: &str, after: &str) -> Result<Vec<MachineSummary>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {MACHINE_COLUMNS} FROM machine m \
                     WHERE m.revoked_at IS NULL AND strpos(lower(m.name), lower($1)) > 0 \
                     AND m.name COLLATE \"C\" > $2 ORDER BY m.name COLLATE \"C\" LIMIT $3"
                ),
                &[&search, &after, &(PAGE_ROWS + 1)],
            )
            .await?;
        Ok(rows.iter().map(summary).collect())
    }

    /// Enrolled machines whose name is `name`, or the revoked ones when
    /// none is enrolled: their ids.
    pub async fn machine_ids_named(&self, name: &str) -> Result<Vec<i64>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT machine_id FROM machine WHERE name = $1 \
                 AND (revoked_at IS NULL \
                      OR NOT EXISTS (SELECT 1 FROM machine e WHERE e.name = $1 AND e.revoked_at IS NULL)) \
                 ORDER BY machine_id",
                &[&name],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    pub async fn machine_summary(&self, id: i64) -> Result<Option<MachineSummary>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {MACHINE_COLUMNS} FROM machine m WHERE m.machine_id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(summary))
    }

    /// How each of the machine's collectors last ran, by name.
    pub async fn machine_collectors(&self, id: i64) -> Result<Vec<CollectorRow>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT collector, plugin, plugin_version, last_run, outcome, error, duration_ms, items, \
                        last_success, last_failure, last_failure_error \
                 FROM collector_status WHERE machine_id = $1 ORDER BY collector COLLATE \"C\"",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| CollectorRow {
                collector: row.get(0),
                plugin: row.get(1),
                plugin_version: row.get(2),
                last_run: row.get(3),
                outcome: row.get(4),
                error: row.get(5),
                duration_ms: row.get(6),
                items: row.get(7),
                last_success: row.get(8),
                last_failure: row.get(9),
                last_failure_error: row.get(10),
            })
            .collect())
    }

    /// The machine's inventory items per data type.
    pub async fn inventory_counts(&self, id: i64) -> Result<Vec<(String, i64)>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT \"ConfigDataType\", count(*) FROM \"ConfigurationData\" WHERE machine_id = $1 GROUP BY 1",
                &[&id],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// A page of the machine's inventory of one tab's type, whose name
    /// contains `search` (any case), after `after` (collector, item key).
    pub async fn inventory_page(
        &self,
        id: i64,
        tab: &InventoryTab,
        search: &str,
        after: Option<(&str, &str)>,
    ) -> Result<InventoryPage, DatabaseError> {
        let shown = tab
            .columns
            .iter()
            .map(|column| format!("\"{column}\"::text"))
            .collect::<Vec<_>>()
            .join(", ");
        let name = tab.columns[0];
        let (collector, item_key) = after.unwrap_or(("", ""));
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT \"Collector\", \"ItemKey\", {shown} FROM \"ConfigurationData\" \
                     WHERE machine_id = $1 AND \"ConfigDataType\" = $2 \
                     AND strpos(lower(coalesce(\"{name}\", '')), lower($3)) > 0 \
                     AND (\"Collector\", \"ItemKey\") > ($4, $5) \
                     ORDER BY \"Collector\", \"ItemKey\" LIMIT $6"
                ),
                &[&id, &tab.data_type, &search, &collector, &item_key, &(PAGE_ROWS + 1)],
            )
            .await?;
        let mut page = InventoryPage {
            rows: Vec::new(),
            next: None,
        };
        for (index, row) in rows.iter().enumerate() {
            if index as i64 == PAGE_ROWS {
                let last = &rows[index - 1];
                page.next = Some((last.get(0), last.get(1)));
                break;
            }
            page.rows.push(
                (0..tab.columns.len())
                    .map(|i| row.get::<_, Option<String>>(i + 2))
                    .collect(),
            );
        }
        Ok(page)
    }
}
