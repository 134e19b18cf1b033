//! The command line: serve the API, or look after the fleet's database.

mod alerts;
mod manifests;
mod query;
mod tokens;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use alerts::AlertsAction;
use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};
use driftwatch_protocol::tokens::ENROLLMENT_SECRET;
use manifests::ManifestsAction;
use serde::Serialize;
use tokens::TokenAction;
use users::UserAction;

use crate::database::Database;
use crate::database::secrets::SecretRules;
use crate::duration;
use crate::http::{self, AppState, Listening};

/// The driftwatch fleet server: agents enroll and report here.
#[derive(Debug, Parser)]
#[command(name = "driftwatch-server", version, about)]
struct Cli {
    /// The PostgreSQL database, as `postgres://user:password@host:port/db`
    /// or `host=… port=… user=… dbname=…`.
    #[arg(long, env = "DRIFTWATCH_DATABASE", global = true, hide_env_values = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (brings the database schema up to date first).
    Serve {
        /// Address and port to listen on, e.g. `0.0.0.0:8443`.
        #[arg(long)]
        listen: SocketAddr,
        /// PEM certificate chain for TLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Plain HTTP without TLS; only on a loopback address (behind a
        /// TLS-terminating proxy on the same machine, or for trying out).
        #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
        insecure_http: bool,
    },
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Enrollment secrets.
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Drop the change history older than a retention: whole months, so
    /// the history kept reaches at least that far back.
    Prune {
        /// How much history to keep: `90d`, `26w`, ...
        #[arg(long, value_parser = duration::parse)]
        keep: std::time::Duration,
    },
    /// List the enrolled machines; revoke one, or change its groups.
    Machines {
        #[command(subcommand)]
        action: Option<MachinesAction>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Run a KQL query over every machine's ConfigurationChange,
    /// ConfigurationData and Heartbeat (the agent's `driftwatch query`
    /// language, let, join, union and all; each row's `Computer` says which
    /// machine it is from).
    Query {
        /// The query, e.g. `ConfigurationChange | where ChangeCategory == "Added" | summarize count() by Computer`.
        query: String,
        /// One JSON object per row and line.
        #[arg(long)]
        json: bool,
    },
    /// Alert rules over every machine's changes, and the alerts raised.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// The manifest each group's machines run.
    Manifests {
        #[command(subcommand)]
        action: ManifestsAction,
    },
    /// API tokens, with which people and scripts query the fleet over HTTP
    /// (`POST /v1/query`).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The web console's users (served at the server's address, `/`).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    #[command(flatten)]
    Docs(driftwatch_cli_docs::DocsCommand),
}

#[derive(Debug, Subcommand)]
enum SecretAction {
    /// Make a secret that machines enroll with (`driftwatch enroll`);
    /// prints it once: only its hash is stored.
    New {
        /// Machines enrolled with it join this group.
        #[arg(long)]
        group: Option<String>,
        /// How long it can be used: `30m`, `12h`, `7d`, `2w`.
        #[arg(long, default_value = "7d", value_parser = duration::parse)]
        expires: std::time::Duration,
        /// How many machines may enroll with it (default: any number).
        #[arg(long)]
        uses: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum MachinesAction {
    /// Cut a machine off: its credentials stop working at once. It can
    /// enroll again with a new secret; its history stays.
    Revoke { name: String },
    /// Put a machine in a group (machines also join the group of the
    /// secret they enroll with).
    Join { name: String, group: String },
    /// Take a machine out of a group.
    Leave { name: String, group: String },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `completions` and `man` need neither a database nor a runtime.
    if let Command::Docs(docs) = &cli.command {
        return match docs.run(Cli::command()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("driftwatch-server: {error}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("driftwatch-server: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("driftwatch-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(url) = cli.database else {
        bail!("no database: give --database URL or set DRIFTWATCH_DATABASE");
    };
    let database = &Database::new(&url)?;
    let done = match cli.command {
        Command::Query { query, json } => return query::run(database, &query, json).await,
        Command::Token { action } => tokens::run(database, action).await,
        Command::User { action } => users::run(database, action).await,
        // Answered by `main` before a database is needed.
        Command::Docs(_) => Ok(()),
        Command::Manifests { action } => manifests::run(database, action).await,
        Command::Alerts { action } => alerts::run(database, action).await,
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
            insecure_http,
        } => {
            let listening = listen_on(listen, tls_cert.zip(tls_key), insecure_http).await?;
            serve(database.clone(), listening).await
        }
        Command::Migrate => {
            let applied = database.migrate().await?;
            println!("database schema up to date ({applied} migrations applied)");
            Ok(())
        }
        Command::Secret {
            action: SecretAction::New { group, expires, uses },
        } => {
            database.check_schema().await?;
            let secret =
                crate::tokens::new_token(ENROLLMENT_SECRET).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
            let rules = SecretRules {
                group: group.as_deref(),
                valid_for: expires,
                uses,
            };
            database.add_secret(&crate::tokens::digest(&secret), &rules).await?;
            println!("{secret}");
            Ok(())
        }
        Command::Prune { keep } => {
            database.check_schema().await?;
            let before = SystemTime::now()
                .checked_sub(keep)
                .with_context(|| format!("cannot keep {} s of history: that is before any time", keep.as_secs()))?;
            let dropped = database.drop_history_before(before).await?;
            if dropped.is_empty() {
                println!(
                    "nothing to drop: no month of history ended before {}",
                    timestamp(before)
                );
            } else {
                let months = if dropped.len() == 1 {
                    "1 month".to_string()
                } else {
                    format!("{} months", dropped.len())
                };
                println!("dropped {months} of history: {}", dropped.join(", "));
            }
            Ok(())
        }
        Command::Machines { action: None, json } => list_machines(database, json).await,
        Command::Machines {
            action: Some(MachinesAction::Join { name, group }),
            ..
        } => set_group(database, &name, &group, true).await,
        Command::Machines {
            action: Some(MachinesAction::Leave { name, group }),
            ..
        } => set_group(database, &name, &group, false).await,
        Command::Machines {
            action: Some(MachinesAction::Revoke { name }),
            ..
        } => {
            database.check_schema().await?;
            if !database.revoke(&name).await? {
                bail!("no enrolled machine is named {name:?}");
            }
            println!("revoked {name}: its credentials no longer work");
            Ok(())
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

async fn set_group(database: &Database, name: &str, group: &str, join: bool) -> anyhow::Result<()> {
    let group = group.trim();
    if group.is_empty() {
        bail!("a group name cannot be empty");
    }
    database.check_schema().await?;
    if !database.set_group(name, group, join).await? {
        bail!("no enrolled machine is named {name:?}");
    }
    println!("{name} {} {group}", if join { "joined" } else { "left" });
    Ok(())
}

async fn listen_on(
    address: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    insecure_http: bool,
) -> anyhow::Result<Listening> {
    let tls_config = match (tls, insecure_http) {
        (Some((cert, key)), _) => Some(http::tls::server_config(&cert, &key)?),
        (None, true) if address.ip().is_loopback() => None,
        (None, true) => bail!("plain HTTP only on a loopback address (127.0.0.1, ::1); give --tls-cert and --tls-key"),
        (None, false) => bail!("give --tls-cert and --tls-key (or --insecure-http on a loopback address)"),
    };
    let tcp = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    Ok(match tls_config {
        Some(config) => Listening::Tls(http::tls::TlsListener::new(tcp, config)?),
        None => Listening::Plain(tcp),
    })
}

async fn serve(database: Database, listening: Listening) -> anyhow::Result<()> {
    database
        .migrate()
        .await
        .context("bringing the database schema up to date")?;
    tracing::info!("listening on {}://{}", listening.scheme(), listening.local_addr()?);
    let (stop_deliveries, stopped) = tokio::sync::watch::channel(false);
    let deliveries = tokio::spawn(crate::alerts::deliver::delivery_loop(database.clone(), stopped));
    http::serve(listening, AppState::new(database), stop_signal()).await?;
    let _ = stop_deliveries.send(true);
    let _ = deliveries.await;
    tracing::info!("server stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C: stop taking connections, finish what is in flight.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
                }
            }
            Err(error) => {
                tracing::warn!("no SIGTERM handling: {error}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("interrupted: stopping");
    }
}

/// A machine as `machines --json` prints it.
#[derive(Serialize)]
struct MachineLine {
    name: String,
    os: String,
    agent_version: String,
    groups: Vec<String>,
    enrolled_at: String,
    last_seen: Option<String>,
    revoked_at: Option<String>,
    /// The `ChangeId` of the last change shipped (0: none yet).
    shipped_change_id: i64,
    last_change: Option<String>,
    last_shipped: Option<String>,
}

async fn list_machines(database: &Database, json: bool) -> anyhow::Result<()> {
    database.check_schema().await?;
    let machines = database.machines().await?;
    let lines = machines.into_iter().map(|m| MachineLine {
        name: m.name,
        os: m.os,
        agent_version: m.agent_version,
        groups: m.groups,
        enrolled_at: timestamp(m.enrolled_at),
        last_seen: m.last_seen.map(timestamp),
        revoked_at: m.revoked_at.map(timestamp),
        shipped_change_id: m.shipped_change_id,
        last_change: m.last_change.map(timestamp),
        last_shipped: m.last_shipped.map(timestamp),
    });
    if json {
        for line in lines {
            println!("{}", serde_json::to_string(&line)?);
        }
        return Ok(());
    }
    println!(
        "{:<30} {:<8} {:<8} {:<16} {:<21} {:<21} STATE",
        "NAME", "OS", "AGENT", "GROUPS", "LAST SEEN", "LAST CHANGE"
    );
    for line in lines {
        let state = match &line.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => "enrolled".to_string(),
        };
        println!(
            "{:<30} {:<8} {:<8} {:<16} {:<21} {:<21} {state}",
            line.name,
            line.os,
            line.agent_version,
            line.groups.join(","),
            line.last_seen.as_deref().unwrap_or("never"),
            line.last_change.as_deref().unwrap_or("none shipped"),
        );
    }
    Ok(())
}

/// RFC 3339 in UTC, to the second.
pub(crate) fn timestamp(time: SystemTime) -> String {
    match jiff::Timestamp::try_from(time) {
        Ok(ts) => ts
            .round(jiff::Unit::Second)
            .map_or_else(|_| ts.to_string(), |t| t.to_string()),
        Err(_) => "?".to_string(),
    }
}
