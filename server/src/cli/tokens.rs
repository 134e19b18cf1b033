//! `driftwatch-server token new|list|revoke`: API tokens for the query API.

use anyhow::bail;
use clap::Subcommand;
use driftwatch_protocol::tokens::API_TOKEN;
use serde::Serialize;

use super::timestamp;
use crate::database::Database;
use crate::database::api_tokens::Role;
use crate::tokens;

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token that reads (queries) every machine's records; prints it
    /// once: only its hash is stored.
    New {
        /// A name to list and revoke it by (who or what uses it).
        name: String,
    },
    /// List the tokens that work (names, not the tokens).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stop a token from working, at once.
    Revoke { name: String },
}

#[derive(Serialize)]
struct TokenLine {
    name: String,
    role: String,
    created_at: String,
    last_used: Option<String>,
}

pub async fn run(database: &Database, action: TokenAction) -> anyhow::Result<()> {
    database.check_schema().await?;
    match action {
        TokenAction::New { name } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("a token needs a name");
            }
            let token = tokens::new_token(API_TOKEN).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
            if !database
                .add_api_token(name, Role::Reader, &tokens::digest(&token))
                .await?
            {
                bail!("a token named {name:?} exists: revoke it first, or choose another name");
            }
            println!("{token}");
        }
        TokenAction::List { json } => {
            let lines = database.api_tokens().await?.into_iter().map(|t| TokenLine {
                name: t.name,
                role: t.role,
                created_at: timestamp(t.created_at),
                last_used: t.last_used.map(timestamp),
            });
            if !json {
                println!("{:<24} {:<8} {:<21} LAST USED", "NAME", "ROLE", "CREATED");
            }
            for line in lines {
                if json {
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    println!(
                        "{:<24} {:<8} {:<21} {}",
                        line.name,
                        line.role,
                        line.created_at,
                        line.last_used.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        TokenAction::Revoke { name } => {
            if !database.revoke_api_token(&name).await? {
                bail!("no token is named {name:?}");
            }
            println!("revoked token {name}");
        }
    }
    Ok(())
}
