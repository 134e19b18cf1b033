//! Group manifests: the manifest a group's agents run, set by an
//! administrator, fetched by agents with conditional requests.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{Database, DatabaseError};

/// A group's manifest as `manifests list` shows it.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub group: String,
    pub etag: String,
    pub updated_at: SystemTime,
    /// Enrolled machines in the group.
    pub machines: i64,
}

/// Which manifest a machine runs: its group's, and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestVersion {
    pub group: String,
    pub etag: String,
}

/// A manifest's version tag: the first 128 bits of its SHA-256, in hex.
pub fn etag_of(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Database {
    /// Sets `group`'s manifest; its new version tag.
    pub async fn set_manifest(&self, group: &str, text: &str) -> Result<String, DatabaseError> {
        let etag = etag_of(text);
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO group_manifest (group_name, manifest, etag) VALUES ($1, $2, $3) \
                 ON CONFLICT (group_name) DO UPDATE SET manifest = EXCLUDED.manifest, etag = EXCLUDED.etag, \
                 updated_at = now()",
                &[&group, &text, &etag],
            )
            .await?;
        Ok(etag)
    }

    /// Removes `group`'s manifest; false when it had none.
    pub async fn unset_manifest(&self, group: &str) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        Ok(client
            .execute("DELETE FROM group_manifest WHERE group_name = $1", &[&group])
            .await?
            > 0)
    }

    pub async fn manifests(&self) -> Result<Vec<ManifestRow>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT gm.group_name, gm.etag, gm.updated_at, \
                   (SELECT count(*) FROM machine_group mg JOIN machine m USING (machine_id) \
                    WHERE mg.group_name = gm.group_name AND m.revoked_at IS NULL) \
                 FROM group_manifest gm ORDER BY gm.group_name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ManifestRow {
                group: row.get(0),
                etag: row.get(1),
                updated_at: row.get(2),
                machines: row.get(3),
            })
            .collect())
    }

    /// A group's manifest text and version tag.
    pub async fn manifest(&self, group: &str) -> Result<Option<(String, String)>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT manifest, etag FROM group_manifest WHERE group_name = $1",
                &[&group],
            )
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// The manifest a machine runs: that of the first of its groups, by
    /// name, that has one.
    pub async fn manifest_of_machine(&self, machine_id: i64) -> Result<Option<ManifestVersion>, DatabaseError> {
        let client = self.client().await?;
        // Prepared once per connection: agents poll every minute.
        let statement = client
            .prepare_cached(
                "SELECT gm.group_name, gm.etag FROM machine_group mg JOIN group_manifest gm USING (group_name) \
                 WHERE mg.machine_id = $1 ORDER BY gm.group_name COLLATE \"C\" LIMIT 1",
            )
            .await?;
        let row = client.query_opt(&statement, &[&machine_id]).await?;
        Ok(row.map(|row| ManifestVersion {
            group: row.get(0),
            etag: row.get(1),
        }))
    }
}
