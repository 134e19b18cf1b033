//! `driftwatch-server user add|list|remove`: the web console's accounts.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::timestamp;
use crate::console::password;
use crate::database::Database;
use crate::database::console::UserRole;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// May change rules, manifests, users and revocations.
    Admin,
    /// May look and query, and change nothing.
    Viewer,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a console user; the password is read from the first line of
    /// standard input (at least 12 characters).
    Add {
        /// The name they log in with.
        name: String,
        /// What they may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Set the password and role of an existing user instead (which
        /// ends their sessions).
        #[arg(long)]
        replace: bool,
    },
    /// List the console users.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a console user; their sessions end at once.
    Remove {
        /// The user's name.
        name: String,
    },
}

/// Shortest password accepted.
const MIN_PASSWORD: usize = 12;

#[derive(Serialize)]
struct UserLine {
    name: String,
    role: String,
    created_at: String,
}

pub async fn run(database: &Database, action: UserAction) -> anyhow::Result<()> {
    database.check_schema().await?;
    match action {
        UserAction::Add { name, role, replace } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                bail!("a user name is 1 to 100 printable characters");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            if password.chars().count() < MIN_PASSWORD {
                bail!("the password (read from standard input) needs at least {MIN_PASSWORD} characters");
            }
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            let role = match role {
                RoleArg::Admin => UserRole::Admin,
                RoleArg::Viewer => UserRole::Viewer,
            };
            if !database.put_user(name, &hash, role, replace).await? {
                bail!("there is a user {name} already (--replace sets a new password and role)");
            }
            println!("user {name} ({}) can log in to the console", role.as_str());
        }
        UserAction::List { json } => {
            for user in database.users().await? {
                let line = UserLine {
                    name: user.name,
                    role: user.role,
                    created_at: timestamp(user.created_at),
                };
                if json {
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    println!("{:<24} {:<7} {}", line.name, line.role, line.created_at);
                }
            }
        }
        UserAction::Remove { name } => {
            if !database.remove_user(&name).await? {
                bail!("there is no user {name}");
            }
            println!("user {name} removed; their sessions ended");
        }
    }
    Ok(())
}
