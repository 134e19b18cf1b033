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
        name          text NOT NULL,
        os            text NOT NULL,
        agent_version text NOT NULL,
        enrolled_at   timestamptz NOT NULL DEFAULT now(),
        last_seen     timestamptz,
        revoked_at    timestamptz
    );
    -- A name is one enrolled machine's; a revoked machine keeps its name
    -- and records, and the name can be enrolled again as a new machine.
    CREATE UNIQUE INDEX machine_enrolled_name ON machine (name) WHERE revoked_at IS NULL;
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
    // 2: each machine's inventory and history, as shipped by its agent, and
    // how far each machine's shipping has come. History is partitioned by
    // month (partitions are made as rows arrive), so retention drops
    // partitions.
    r#"
    ALTER TABLE machine
        ADD COLUMN shipped_change_id bigint NOT NULL DEFAULT 0,
        ADD COLUMN shipped_revision  bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_shipped      timestamptz,
        ADD COLUMN last_change       timestamptz;
    CREATE TABLE "ConfigurationData" (
        machine_id bigint NOT NULL REFERENCES machine ON DELETE CASCADE,
        "Revision" bigint NOT NULL,
        "Collector" text NOT NULL,
        "ItemKey" text NOT NULL,
        "ConfigDataType" text NOT NULL,
        "Computer" text NOT NULL,
        "TimeGenerated" timestamptz NOT NULL,
        "SoftwareName" text,
        "CurrentVersion" text,
        "Architecture" text,
        "Publisher" text,
        "SoftwareDescription" text,
        "SoftwareType" text,
        "InstallState" text,
        "InstallDate" text,
        "SvcName" text,
        "SvcDisplayName" text,
        "SvcState" text,
        "SvcStartupType" text,
        "SvcPath" text,
        "SvcAccount" text,
        "SvcRunlevels" text,
        "SvcDescription" text,
        "FileSystemPath" text,
        "FileType" text,
        "Size" bigint,
        "DateCreated" text,
        "DateModified" text,
        "FileContentChecksum" text,
        "Acls" text,
        "Attributes" text,
        "LinkTarget" text,
        "ItemName" text,
        "RegistryKey" text,
        "ValueName" text,
        "ValueType" text,
        "ValueData" text,
        "ContentHash" text,
        "ContentState" text,
        PRIMARY KEY (machine_id, "Collector", "ItemKey")
    );
    CREATE TABLE "ConfigurationChange" (
        machine_id bigint NOT NULL,
        "ChangeId" bigint NOT NULL,
        "Collector" text NOT NULL,
        "ItemKey" text NOT NULL,
        "Computer" text NOT NULL,
        "TimeGenerated" timestamptz NOT NULL,
        "ConfigChangeType" text NOT NULL,
        "ChangeCategory" text NOT NULL,
        "FieldsChanged" text,
        "SoftwareName" text,
        "Current" text,
        "Previous" text,
        "Architecture" text,
        "Publisher" text,
        "PreviousPublisher" text,
        "SoftwareDescription" text,
        "SoftwareType" text,
        "InstallState" text,
        "PreviousInstallState" text,
        "InstallDate" text,
        "SvcName" text,
        "SvcDisplayName" text,
        "SvcPreviousDisplayName" text,
        "SvcState" text,
        "SvcPreviousState" text,
        "SvcStartupType" text,
        "SvcPreviousStartupType" text,
        "SvcPath" text,
        "SvcPreviousPath" text,
        "SvcAccount" text,
        "SvcPreviousAccount" text,
        "SvcRunlevels" text,
        "SvcPreviousRunlevels" text,
        "SvcDescription" text,
        "SvcPreviousDescription" text,
        "FileSystemPath" text,
        "FileType" text,
        "PreviousFileType" text,
        "Size" bigint,
        "PreviousSize" bigint,
        "DateCreated" text,
        "PreviousDateCreated" text,
        "DateModified" text,
        "PreviousDateModified" text,
        "FileContentChecksum" text,
        "PreviousFileContentChecksum" text,
        "Acls" text,
        "PreviousAcls" text,
        "Attributes" text,
        "PreviousAttributes" text,
        "LinkTarget" text,
        "PreviousLinkTarget" text,
        "ItemName" text,
        "RegistryKey" text,
        "ValueName" text,
        "ValueType" text,
        "PreviousValueType" text,
        "ValueData" text,
        "PreviousValueData" text,
        "ContentHash" text,
        "ContentState" text,
        "PreviousContentHash" text,
        "PreviousContentState" text,
        PRIMARY KEY (machine_id, "ChangeId", "TimeGenerated")
    ) PARTITION BY RANGE ("TimeGenerated");
    CREATE INDEX "ConfigurationChange_by_time" ON "ConfigurationChange" ("TimeGenerated");
    CREATE INDEX "ConfigurationChange_by_type" ON "ConfigurationChange" ("ConfigChangeType", "TimeGenerated");
    CREATE INDEX "ConfigurationData_by_type" ON "ConfigurationData" ("ConfigDataType");
    "#,
    // 3: captured file contents, once each whichever machines have them.
    r#"
    CREATE TABLE file_content (
        sha256    bytea PRIMARY KEY CHECK (length(sha256) = 32),
        content   bytea NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now()
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
