//! Enrollment secrets: people make them, machines spend them to enroll.
//! Only their SHA-256 is stored.

use std::time::Duration;

use super::{Database, DatabaseError};

/// What a new secret allows.
pub struct SecretRules<'a> {
    /// The group machines enrolled with it join.
    pub group: Option<&'a str>,
    pub valid_for: Duration,
    /// How many machines may enroll with it; `None` for any number.
    pub uses: Option<u32>,
}

impl Database {
    pub async fn add_secret(&self, hash: &[u8], rules: &SecretRules<'_>) -> Result<(), DatabaseError> {
        let seconds = rules.valid_for.as_secs() as i64;
        let uses = rules.uses.map(|n| n.min(i32::MAX as u32) as i32);
        self.client()
            .await?
            .execute(
                "INSERT INTO enrollment_secret (secret_hash, group_name, expires_at, uses_left) \
                 VALUES ($1, $2, now() + $3::bigint * interval '1 second', $4)",
                &[&hash, &rules.group, &seconds, &uses],
            )
            .await?;
        Ok(())
    }
}
