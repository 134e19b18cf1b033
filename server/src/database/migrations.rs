//! The schema as an ordered list of migrations. A released migration never
//! changes; a new one is added at the end.

use super::DatabaseError;

/// Serialises migrations between server processes (any fixed number would do).
const MIGRATION_LOCK: i64 = 0x6472_6966_7477_6174; // "driftwat"

const MIGRATIONS: &[&str] = &[
    // 1: machines, their groups, enrollment secrets and credentials.
    r#"
    CREATE TABLE machine (
        machine_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name          text NOT NULL UNIQUE,
        os            text NOT NULL,
        agent_version text NOT NULL,
        enrolled_at   timestamptz NOT NULL DEFAULT now(),
        last_seen     timestamptz,
        revoked_at    timestamptz
    );
    CREATE TABLE machine_group (
        machine_id bigint NOT NULL REFERENCES machine ON DELETE CASCADE,
        group_name text NOT NULL,
        PRIMARY KEY (machine_id, group_name)
    );
    CREATE TABLE enrollment_secret (
        secret_hash bytea PRIMARY KEY,
        group_name  text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL,
        uses_left   integer CHECK (uses_left IS NULL OR uses_left >= 0)
    );
    CREATE TABLE credential (
        machine_id      bigint NOT NULL REFERENCES machine ON DELETE CASCADE,
        credential_hash bytea NOT NULL UNIQUE,
        issued_at       timestamptz NOT NULL DEFAULT now(),
        revoked_at      timestamptz,
        PRIMARY KEY (machine_id, credential_hash)
    );
    "#,
];

pub async fn apply(client: &mut deadpool_postgres::Object) -> Result<usize, DatabaseError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migration (
            version    integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migration", &[])
        .await?
        .get(0);
    if found as usize > MIGRATIONS.len() {
        return Err(DatabaseError::TooNew {
            found,
            known: MIGRATIONS.len(),
        });
    }
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO schema_migration (version) VALUES ($1)", &[&version])
            .await?;
        tracing::info!("database: applied migration {version}");
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}
