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
    // 4: KQL's string semantics as SQL functions (the same as the agent's
    // SQLite functions, see `driftwatch_kql::text`), and API tokens for
    // people and scripts that query the fleet.
    r#"
    -- Unicode case folding whatever the database's locale: through ICU when
    -- this PostgreSQL has it (lower() under the C locale folds ASCII only).
    DO $do$
    DECLARE
        icu text := CASE WHEN EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')
                               THEN ' COLLATE "und-x-icu"' ELSE '' END;
    BEGIN
        EXECUTE format(
            'CREATE FUNCTION kql_case(subject text, upper integer) RETURNS text
             LANGUAGE sql IMMUTABLE PARALLEL SAFE
             AS $f$ SELECT CASE WHEN upper = 1 THEN upper(subject%1$s) ELSE lower(subject%1$s) END $f$',
            icu);
    END
    $do$;

    -- `has`: the pattern occurs as whole terms (a term is a run of letters
    -- and digits); matches are looked for left to right, not overlapping.
    CREATE FUNCTION kql_has(subject text, pattern text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $f$
    DECLARE
        open_start boolean := pattern ~ '^[[:alnum:]]';
        open_end   boolean := pattern ~ '[[:alnum:]]$';
        searched   integer := 0;
        found      integer;
        at         integer;
    BEGIN
        IF pattern = '' THEN
            RETURN true;
        END IF;
        LOOP
            found := strpos(substr(subject, searched + 1), pattern);
            EXIT WHEN found = 0;
            at := searched + found;
            IF (NOT open_start OR at = 1 OR substr(subject, at - 1, 1) !~ '[[:alnum:]]')
               AND (NOT open_end OR substr(subject, at + length(pattern), 1) !~ '^[[:alnum:]]$') THEN
                RETURN true;
            END IF;
            searched := at + length(pattern) - 1;
        END LOOP;
        RETURN false;
    END
    $f$;

    -- kql_text(op, case_sensitive, subject, pattern): 0 equals, 1 contains,
    -- 2 has, 3 startswith, 4 endswith; null is the empty string.
    CREATE FUNCTION kql_text(op integer, case_sensitive integer, subject text, pattern text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $f$
    DECLARE
        s text := coalesce(subject, '');
        p text := coalesce(pattern, '');
    BEGIN
        IF case_sensitive = 0 THEN
            s := kql_case(s, 0);
            p := kql_case(p, 0);
        END IF;
        RETURN CASE op
            WHEN 0 THEN s = p
            WHEN 1 THEN strpos(s, p) > 0
            WHEN 2 THEN kql_has(s, p)
            WHEN 3 THEN left(s, length(p)) = p
            WHEN 4 THEN length(p) <= length(s) AND right(s, length(p)) = p
            ELSE false
        END;
    END
    $f$;

    -- A time kept as text (`DateModified`, ...) as a time; null where the
    -- text is not one (an agent's odd value must not fail the query).
    CREATE FUNCTION kql_time(value text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $f$
    BEGIN
        IF value IS NULL OR value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN
            RETURN NULL;
        END IF;
        RETURN value::timestamptz;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END
    $f$;

    CREATE TABLE api_token (
        token_hash bytea PRIMARY KEY,
        name       text NOT NULL,
        role       text NOT NULL CHECK (role IN ('reader')),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used  timestamptz,
        revoked_at timestamptz
    );
    CREATE UNIQUE INDEX api_token_name ON api_token (name) WHERE revoked_at IS NULL;
    "#,
    // 5: a manifest per group, which the group's agents fetch and apply.
    r#"
    CREATE TABLE group_manifest (
        group_name text PRIMARY KEY,
        manifest   text NOT NULL,
        etag       text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    "#,
    // 6: fleet alert rules, the alerts they raise (per machine, with the
    // changes they name) and the deliveries of each alert's actions.
    r#"
    CREATE TABLE alert_rule (
        name       text PRIMARY KEY,
        query      text NOT NULL,
        severity   text NOT NULL,
        enabled    boolean NOT NULL,
        actions    jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE alert (
        machine_id   bigint NOT NULL REFERENCES machine ON DELETE CASCADE,
        alert_id     bigint GENERATED ALWAYS AS IDENTITY,
        rule         text NOT NULL,
        severity     text NOT NULL,
        raised_at    timestamptz NOT NULL DEFAULT now(),
        first_change bigint NOT NULL,
        last_change  bigint NOT NULL,
        row_count    integer NOT NULL,
        document     jsonb NOT NULL,
        PRIMARY KEY (machine_id, alert_id)
    );
    CREATE INDEX alert_by_time ON alert (raised_at);
    CREATE TABLE alert_delivery (
        machine_id   bigint NOT NULL,
        alert_id     bigint NOT NULL,
        action_index integer NOT NULL,
        action       text NOT NULL,
        spec         jsonb NOT NULL,
        state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts     integer NOT NULL DEFAULT 0,
        next_attempt timestamptz NOT NULL DEFAULT now(),
        last_error   text,
        delivered_at timestamptz,
        PRIMARY KEY (machine_id, alert_id, action_index),
        FOREIGN KEY (machine_id, alert_id) REFERENCES alert ON DELETE CASCADE
    );
    CREATE INDEX alert_delivery_due ON alert_delivery (next_attempt) WHERE state = 'pending';
    "#,
    // 7: cheaper inventory writes, which baselines make by the million.
    // Machines are revoked, never deleted, so checking each row's machine
    // against `machine` bought nothing; item keys compare by code point (as
    // KQL orders strings) rather than through the database's collation; and
    // the index by data type was too unselective for any plan to use.
    r#"
    ALTER TABLE "ConfigurationData" DROP CONSTRAINT "ConfigurationData_machine_id_fkey";
    ALTER TABLE "ConfigurationData"
        ALTER COLUMN "Collector" TYPE text COLLATE "C",
        ALTER COLUMN "ItemKey" TYPE text COLLATE "C";
    DROP INDEX "ConfigurationData_by_type";
    "#,
    // 8: the web console's users, their sessions, and failed logins (which
    // throttle password guessing whichever server process is asked).
    r#"
    CREATE TABLE console_user (
        name          text PRIMARY KEY,
        password_hash text NOT NULL,
        role          text NOT NULL CHECK (role IN ('admin', 'viewer')),
        created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE console_session (
        token_hash bytea PRIMARY KEY,
        user_name  text NOT NULL REFERENCES console_user ON DELETE CASCADE ON UPDATE CASCADE,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX console_session_by_user ON console_session (user_name);
    CREATE TABLE login_failure (
        user_name text NOT NULL,
        at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failure_by_user ON login_failure (user_name, at);
    "#,
    // 9: how each machine's collectors last ran, as its agent reports it;
    // and the console's lookups: changes per machine by time, inventory by
    // data type and software name across the fleet.
    r#"
    CREATE TABLE collector_status (
        machine_id         bigint NOT NULL,
        collector          text NOT NULL,
        plugin             text NOT NULL,
        plugin_version     text,
        last_run           timestamptz NOT NULL,
        outcome            text NOT NULL,
        error              text,
        duration_ms        bigint NOT NULL,
        items              bigint,
        changes            bigint,
        last_success       timestamptz,
        last_failure       timestamptz,
        last_failure_error text,
        reported_at        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (machine_id, collector)
    );
    CREATE INDEX collector_status_failing ON collector_status (machine_id) WHERE outcome = 'Failed';
    -- Changes counted per hour and type, for the fleet's timeline: kept up
    -- to date by the transactions that insert changes. Machines are spread
    -- over stripes so that their batches seldom wait on one another's row.
    -- (A fleet-wide aggregate: the one table that does not lead with the
    -- machine; under Citus it stays on the coordinator.)
    CREATE TABLE change_hourly (
        hour        timestamptz NOT NULL,
        change_type text NOT NULL,
        stripe      smallint NOT NULL,
        changes     bigint NOT NULL,
        PRIMARY KEY (hour, change_type, stripe)
    );
    INSERT INTO change_hourly
        SELECT date_trunc('hour', "TimeGenerated", 'UTC'), "ConfigChangeType", machine_id % 16, count(*)
        FROM "ConfigurationChange" GROUP BY 1, 2, 3;
    CREATE INDEX "ConfigurationChange_by_machine_time" ON "ConfigurationChange" (machine_id, "TimeGenerated");
    CREATE INDEX "ConfigurationData_by_software" ON "ConfigurationData" ("SoftwareName", "CurrentVersion", machine_id)
        WHERE "SoftwareName" IS NOT NULL;
    -- Searching changes by text in their item's name ("contains"): a
    -- trigram index where PostgreSQL has pg_trgm (a trusted extension of
    -- its standard distribution); without it such searches read the table.
    DO $do$
    BEGIN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm is not available (%): searching changes by text reads the table', SQLERRM;
        END;
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            BEGIN
                CREATE INDEX "ConfigurationChange_by_item_text" ON "ConfigurationChange" USING gin (
                    lower(coalesce("SoftwareName", "FileSystemPath", "SvcName",
                                   "RegistryKey" || coalesce('\' || "ValueName", ''), "ItemKey")) gin_trgm_ops);
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'no trigram index (%): searching changes by text reads the table', SQLERRM;
            END;
        END IF;
    END
    $do$;
    "#,
    // 10: Azure's `Heartbeat`: a row per report of a machine's agent (after
    // each collection pass that it ships), with what the agent says of its
    // OS and the address it reported from; and KQL's parse_json().
    r#"
    CREATE TABLE "Heartbeat" (
        machine_id            bigint NOT NULL,
        "Computer"            text NOT NULL,
        "TimeGenerated"       timestamptz NOT NULL DEFAULT now(),
        "Category"            text NOT NULL,
        "OSType"              text,
        "OSName"              text,
        "OSMajorVersion"      text,
        "OSMinorVersion"      text,
        "Version"             text,
        "ComputerIP"          text,
        "ComputerEnvironment" text
    );
    CREATE INDEX "Heartbeat_by_machine_time" ON "Heartbeat" (machine_id, "TimeGenerated");
    CREATE INDEX "Heartbeat_by_time" ON "Heartbeat" ("TimeGenerated");
    -- A dynamic value as KQL's text: a string itself, arrays and bags compact
    -- with properties in name order (as the agent's kql_json_text), null for null.
    CREATE FUNCTION kql_json_compact(value jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    BEGIN
        RETURN CASE jsonb_typeof(value)
            WHEN 'object' THEN '{' || coalesce((SELECT string_agg(to_jsonb(e.key)::text || ':' || kql_json_compact(e.value),
                                                                  ',' ORDER BY e.key COLLATE "C")
                                                FROM jsonb_each(value) AS e), '') || '}'
            WHEN 'array' THEN '[' || coalesce((SELECT string_agg(kql_json_compact(e.value), ',' ORDER BY e.n)
                                               FROM jsonb_array_elements(value) WITH ORDINALITY AS e(value, n)), '') || ']'
            ELSE value::text
        END;
    END
    $$;
    CREATE FUNCTION kql_json_text(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE jsonb_typeof(value)
            WHEN 'string' THEN value #>> '{}'
            WHEN 'null' THEN NULL
            ELSE kql_json_compact(value)
        END
    $$;
    -- KQL's parse_json(): text that is not JSON is a JSON string.
    CREATE FUNCTION kql_parse_json(value text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    BEGIN
        RETURN value::jsonb;
    EXCEPTION WHEN OTHERS THEN
        RETURN to_jsonb(value);
    END
    $$;
    "#,
];

/// The schema version of the database: 0 when no migration was applied.
pub async fn version(client: &deadpool_postgres::Object) -> Result<i32, DatabaseError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migration') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migration", &[])
        .await?
        .get(0))
}

/// How many migrations this server knows.
pub fn known() -> usize {
    MIGRATIONS.len()
}

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
