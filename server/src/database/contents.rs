//! Captured file contents: stored once by SHA-256, whichever machines ship
//! them (PostgreSQL compresses large values itself).

use super::{Database, DatabaseError};

impl Database {
    /// Of `hashes` (32-byte digests), those not stored.
    pub async fn missing_contents(&self, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, DatabaseError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT h FROM unnest($1::bytea[]) AS h \
                 WHERE NOT EXISTS (SELECT 1 FROM file_content WHERE sha256 = h)",
                &[&hashes],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Stores a content under its digest (already checked); a second copy
    /// changes nothing.
    pub async fn store_content(&self, sha256: &[u8], content: &[u8]) -> Result<(), DatabaseError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO file_content (sha256, content) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&sha256, &content],
            )
            .await?;
        Ok(())
    }
}
