//! `driftwatch-server manifests set|unset|show|list`: the manifest each
//! group's agents run.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::timestamp;
use crate::database::Database;

#[derive(Debug, Subcommand)]
pub enum ManifestsAction {
    /// Give a group a manifest (the agent's TOML). Its machines fetch it
    /// within a minute and apply it as a reload; an agent refuses one that
    /// enables an `exec` alert action or a plugin it has not pinned, and
    /// keeps what it runs.
    Set { group: String, file: PathBuf },
    /// Take a group's manifest away: its machines go back to their own.
    Unset { group: String },
    /// Print a group's manifest.
    Show { group: String },
    /// The groups that have a manifest, its version and how many machines
    /// are in the group.
    List,
}

pub async fn run(database: &Database, action: ManifestsAction) -> anyhow::Result<()> {
    database.check_schema().await?;
    match action {
        ManifestsAction::Set { group, file } => {
            let group = group.trim();
            if group.is_empty() {
                bail!("a group name cannot be empty");
            }
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            // The agents check everything else; a file that is not TOML at
            // all is certainly a mistake.
            if let Err(error) = text.parse::<toml::Table>() {
                bail!("{} is not TOML: {}", file.display(), error.message());
            }
            let etag = database.set_manifest(group, &text).await?;
            println!("{group}: manifest {etag} set; its machines apply it within a minute");
        }
        ManifestsAction::Unset { group } => {
            if !database.unset_manifest(&group).await? {
                bail!("the group {group:?} has no manifest");
            }
            println!("{group}: manifest removed; its machines go back to their own");
        }
        ManifestsAction::Show { group } => match database.manifest(&group).await? {
            Some((text, _)) => print!("{text}"),
            None => bail!("the group {group:?} has no manifest"),
        },
        ManifestsAction::List => {
            println!("{:<24} {:<34} {:<21} MACHINES", "GROUP", "VERSION", "SET");
            for row in database.manifests().await? {
                println!(
                    "{:<24} {:<34} {:<21} {}",
                    row.group,
                    row.etag,
                    timestamp(row.updated_at),
                    row.machines
                );
            }
        }
    }
    Ok(())
}
