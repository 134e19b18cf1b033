//! The HTTP API: agents enroll and ship here; people and scripts query (the
//! web console's pages are merged in from `console`). Each request
//! stands alone (the database holds all state), so any number of server
//! processes can share one database behind a load balancer.

mod auth;
mod body;
mod collectors;
pub mod contents;
mod enroll;
mod manifest;
mod problem;
pub mod query;
mod ship;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use driftwatch_protocol::paths;

use crate::database::Database;

pub use auth::{AuthenticatedMachine, AuthenticatedReader};
pub use manifest::ManifestCache;
pub use problem::ApiError;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub database: Database,
    pub manifests: ManifestCache,
    /// Cookies only over TLS (the server listens with TLS).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(database: Database) -> AppState {
        AppState {
            database,
            manifests: ManifestCache::default(),
            secure_cookies: false,
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::ENROLL, post(enroll::enroll))
        .route(paths::IDENTITY, get(enroll::identity))
        .route(
            paths::SHIP,
            post(ship::ship)
                .layer(DefaultBodyLimit::max(driftwatch_protocol::MAX_BATCH_COMPRESSED))
                .get(ship::position),
        )
        .route(paths::DIGEST, get(ship::digest))
        .route(paths::CONTENTS_MISSING, post(contents::missing))
        .route(
            &format!("{}/{{hash}}", paths::CONTENTS),
            put(contents::put).layer(DefaultBodyLimit::max(driftwatch_protocol::MAX_BATCH_COMPRESSED)),
        )
        .route(paths::QUERY, post(query::query))
        .route(paths::MANIFEST, get(manifest::manifest))
        .route(paths::COLLECTORS, post(collectors::report))
        .merge(crate::console::router())
        .with_state(state)
}

/// `ok` when the database answers.
async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> Result<&'static str, ApiError> {
    state.database.ping().await?;
    Ok("ok")
}

/// The address a request came from (a proxy's, behind one).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for PeerAddress {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddress {
        PeerAddress(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>> for PeerAddress {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> PeerAddress {
        PeerAddress(*stream.remote_addr())
    }
}

/// How the server listens.
pub enum Listening {
    Tls(tls::TlsListener),
    /// Plain HTTP, for loopback only.
    Plain(tokio::net::TcpListener),
}

impl Listening {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listening::Tls(listener) => axum::serve::Listener::local_addr(listener),
            Listening::Plain(listener) => listener.local_addr(),
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Listening::Tls(_) => "https",
            Listening::Plain(_) => "http",
        }
    }
}

/// Serves until `stop` completes, then lets requests in flight finish.
pub async fn serve(
    listening: Listening,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState {
        secure_cookies: matches!(listening, Listening::Tls(_)),
        ..state
    };
    let app = router(state);
    match listening {
        Listening::Tls(listener) => {
            axum::serve(listener, app.into_make_service_with_connect_info::<PeerAddress>())
                .with_graceful_shutdown(stop)
                .await
        }
        Listening::Plain(listener) => {
            axum::serve(listener, app.into_make_service_with_connect_info::<PeerAddress>())
                .with_graceful_shutdown(stop)
                .await
        }
    }
}
