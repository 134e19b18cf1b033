//! Machines: enrollment, the credentials that identify them, revocation.

use std::time::SystemTime;

use super::{Database, DatabaseError};

/// Why an enrollment was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("the enrollment secret is unknown, expired or used up")]
    BadSecret,
    #[error("a machine named {0:?} is enrolled already; revoke it first to enroll it again")]
    NameTaken(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl From<tokio_postgres::Error> for EnrollError {
    fn from(error: tokio_postgres::Error) -> EnrollError {
        EnrollError::Database(error.into())
    }
}

/// A machine asking to enroll, with what it will be known by.
pub struct Enrollment<'a> {
    pub secret_hash: &'a [u8],
    pub name: &'a str,
    pub os: &'a str,
    pub agent_version: &'a str,
    pub credential_hash: &'a [u8],
}

/// A machine a credential belongs to.
#[derive(Debug, Clone)]
pub struct MachineId {
    pub id: i64,
    pub name: String,
}

/// A machine as `machines` lists it.
#[derive(Debug, Clone)]
pub struct MachineRow {
    pub name: String,
    pub os: String,
    pub agent_version: String,
    pub groups: Vec<String>,
    pub enrolled_at: SystemTime,
    pub last_seen: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
    /// The last change shipped: its `ChangeId` (0: none) and time.
    pub shipped_change_id: i64,
    pub last_change: Option<SystemTime>,
    pub last_shipped: Option<SystemTime>,
}

impl Database {
    /// Spends one use of the secret and enrolls the machine, in one
    /// transaction: the secret's group becomes the machine's. A revoked
    /// machine's name may be enrolled again, as a new machine (the revoked
    /// one keeps its records).
    pub async fn enroll(&self, request: &Enrollment<'_>) -> Result<Vec<String>, EnrollError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let secret = tx
            .query_opt(
                "UPDATE enrollment_secret SET uses_left = uses_left - 1 \
                 WHERE secret_hash = $1 AND expires_at > now() AND (uses_left IS NULL OR uses_left > 0) \
                 RETURNING group_name",
                &[&request.secret_hash],
            )
            .await?
            .ok_or(EnrollError::BadSecret)?;
        let group: Option<String> = secret.get(0);
        let machine_id: i64 = tx
            .query_opt(
                "INSERT INTO machine (name, os, agent_version) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING RETURNING machine_id",
                &[&request.name, &request.os, &request.agent_version],
            )
            .await?
            .ok_or_else(|| EnrollError::NameTaken(request.name.to_string()))?
            .get(0);
        if let Some(group) = &group {
            tx.execute(
                "INSERT INTO machine_group (machine_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&machine_id, group],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO credential (machine_id, credential_hash) VALUES ($1, $2)",
            &[&machine_id, &request.credential_hash],
        )
        .await?;
        let groups = groups_of(&*tx, machine_id).await?;
        tx.commit().await?;
        Ok(groups)
    }

    /// The machine a credential identifies, unless it or its machine was
    /// revoked. Notes that the machine was seen (at most once a minute).
    pub async fn authenticate(&self, credential_hash: &[u8]) -> Result<Option<MachineId>, DatabaseError> {
        // One prepared statement: every request of every agent runs it.
        // `last_seen` is written at most once a minute per machine.
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH found AS (\
                     SELECT m.machine_id, m.name, m.last_seen FROM credential c JOIN machine m USING (machine_id) \
                     WHERE c.credential_hash = $1 AND c.revoked_at IS NULL AND m.revoked_at IS NULL), \
                 seen AS (\
                     UPDATE machine m SET last_seen = now() FROM found \
                     WHERE m.machine_id = found.machine_id \
                     AND (found.last_seen IS NULL OR found.last_seen < now() - interval '1 minute')) \
                 SELECT machine_id, name FROM found",
            )
            .await?;
        let row = client.query_opt(&statement, &[&credential_hash]).await?;
        Ok(row.map(|row| MachineId {
            id: row.get(0),
            name: row.get(1),
        }))
    }

    pub async fn groups(&self, machine_id: i64) -> Result<Vec<String>, DatabaseError> {
        let client = self.client().await?;
        Ok(groups_of(&**client, machine_id).await?)
    }

    /// Every machine, by name.
    pub async fn machines(&self) -> Result<Vec<MachineRow>, DatabaseError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT m.name, m.os, m.agent_version, m.enrolled_at, m.last_seen, m.revoked_at, \
                        coalesce(array_agg(g.group_name ORDER BY g.group_name) \
                                 FILTER (WHERE g.group_name IS NOT NULL), '{}'), \
                        m.shipped_change_id, m.last_change, m.last_shipped \
                 FROM machine m LEFT JOIN machine_group g USING (machine_id) \
                 GROUP BY m.machine_id ORDER BY m.name, m.machine_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| MachineRow {
                name: row.get(0),
                os: row.get(1),
                agent_version: row.get(2),
                enrolled_at: row.get(3),
                last_seen: row.get(4),
                revoked_at: row.get(5),
                groups: row.get(6),
                shipped_change_id: row.get(7),
                last_change: row.get(8),
                last_shipped: row.get(9),
            })
            .collect())
    }

    /// Puts an enrolled machine in a group (`join`) or takes it out; false
    /// when no enrolled machine has that name.
    pub async fn set_group(&self, name: &str, group: &str, join: bool) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT machine_id FROM machine WHERE name = $1 AND revoked_at IS NULL",
                &[&name],
            )
            .await?
        else {
            return Ok(false);
        };
        let machine_id: i64 = row.get(0);
        let sql = if join {
            "INSERT INTO machine_group (machine_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM machine_group WHERE machine_id = $1 AND group_name = $2"
        };
        client.execute(sql, &[&machine_id, &group]).await?;
        Ok(true)
    }

    /// Revokes a machine and every credential it had; false when no
    /// enrolled machine has that name.
    pub async fn revoke(&self, name: &str) -> Result<bool, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let revoked = tx
            .query_opt(
                "UPDATE machine SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING machine_id",
                &[&name],
            )
            .await?;
        let Some(row) = revoked else { return Ok(false) };
        let machine_id: i64 = row.get(0);
        tx.execute(
            "UPDATE credential SET revoked_at = now() WHERE machine_id = $1 AND revoked_at IS NULL",
            &[&machine_id],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn groups_of(
    client: &impl tokio_postgres::GenericClient,
    machine_id: i64,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT group_name FROM machine_group WHERE machine_id = $1 ORDER BY group_name",
            &[&machine_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
