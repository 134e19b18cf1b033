//! PostgreSQL: the connection pool and the schema's migrations. Each
//! table's queries live in a module of their own.
//!
//! Every table leads with the machine (see `server/CITUS.md`), so that the
//! store can later be spread over several database nodes by machine.

pub mod alerts;
pub mod api_tokens;
pub mod collectors;
mod columnar;
pub mod console;
pub mod contents;
pub mod machines;
pub mod manifests;
mod migrations;
pub mod query;
pub use columnar::parse_time;
pub mod secrets;
pub mod shipping;
pub mod views;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Connections one server process keeps at most.
const POOL_SIZE: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("the database address is not valid: {0}")]
    Url(tokio_postgres::Error),
    #[error("cannot make the connection pool: {0}")]
    Pool(String),
    #[error("no database connection: {0}")]
    Connect(#[from] deadpool_postgres::PoolError),
    #[error("database: {0}")]
    Sql(#[from] tokio_postgres::Error),
    #[error("the database has schema version {found}; this server knows up to {known}: upgrade the server")]
    TooNew { found: i32, known: usize },
    #[error(
        "the database has schema version {found}; this server needs {known}: run `driftwatch-server migrate` \
         (or start `driftwatch-server serve`, which migrates)"
    )]
    TooOld { found: i32, known: usize },
}

/// The fleet's database, shared by every request.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// History partitions known to exist, by (year, month).
    partitions: Arc<Mutex<HashSet<(i16, i8)>>>,
    /// Whether the changes' trigram index exists (asked once).
    text_index: Arc<tokio::sync::OnceCell<bool>>,
}

impl Database {
    /// A pool for `url` (`postgres://user@host/db` or `host=… dbname=…`).
    /// Connections are made when first needed.
    pub fn new(url: &str) -> Result<Database, DatabaseError> {
        let config: tokio_postgres::Config = url.parse().map_err(DatabaseError::Url)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DatabaseError::Pool(e.to_string()))?;
        Ok(Database {
            pool,
            partitions: Arc::default(),
            text_index: Arc::default(),
        })
    }

    pub async fn client(&self) -> Result<deadpool_postgres::Object, DatabaseError> {
        Ok(self.pool.get().await?)
    }

    /// Brings the schema up to date; returns how many migrations it applied.
    /// Several servers starting at once apply each migration once.
    pub async fn migrate(&self) -> Result<usize, DatabaseError> {
        let mut client = self.client().await?;
        migrations::apply(&mut client).await
    }

    /// Checks, without changing anything, that the schema is the one this
    /// server knows (what the administration commands need).
    pub async fn check_schema(&self) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        let found = migrations::version(&client).await?;
        let known = migrations::known();
        match (found as usize).cmp(&known) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(DatabaseError::TooOld { found, known }),
            std::cmp::Ordering::Greater => Err(DatabaseError::TooNew { found, known }),
        }
    }

    /// The database answers.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}
