//! API tokens: how people and scripts (not agents) read the fleet's data.
//! Each has a name and a role; the database keeps only the token's hash.

use std::time::SystemTime;

use super::{Database, DatabaseError};

/// What a token may do. Only reading exists today: queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
        }
    }
}

/// A token as `tokens` lists it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub created_at: SystemTime,
    pub last_used: Option<SystemTime>,
}

impl Database {
    /// Stores a new token's hash under `name`; false when a token of that
    /// name exists (and is not revoked).
    pub async fn add_api_token(&self, name: &str, role: Role, token_hash: &[u8]) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        let added = client
            .execute(
                "INSERT INTO api_token (token_hash, name, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&token_hash, &name, &role.as_str()],
            )
            .await?;
        Ok(added == 1)
    }

    /// The role of a valid token; marks it used (at most once a minute).
    pub async fn api_token_role(&self, token_hash: &[u8]) -> Result<Option<Role>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE api_token SET last_used = CASE \
                     WHEN last_used IS NULL OR last_used < now() - interval '1 minute' THEN now() \
                     ELSE last_used END \
                 WHERE token_hash = $1 AND revoked_at IS NULL RETURNING role",
                &[&token_hash],
            )
            .await?;
        Ok(row.and_then(|row| match row.get::<_, &str>(0) {
            "reader" => Some(Role::Reader),
            _ => None,
        }))
    }

    /// Tokens not revoked, by name.
    pub async fn api_tokens(&self) -> Result<Vec<TokenRow>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, role, created_at, last_used FROM api_token WHERE revoked_at IS NULL ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| TokenRow {
                name: row.get(0),
                role: row.get(1),
                created_at: row.get(2),
                last_used: row.get(3),
            })
            .collect())
    }

    /// Revokes the token of that name; false when there is none.
    pub async fn revoke_api_token(&self, name: &str) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        let revoked = client
            .execute(
                "UPDATE api_token SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
                &[&name],
            )
            .await?;
        Ok(revoked > 0)
    }
}
