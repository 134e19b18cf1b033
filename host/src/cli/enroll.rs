//! `driftwatch enroll`: join a fleet with an enrollment secret.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use driftwatch_protocol::EnrollRequest;

use super::Context;
use crate::fleet::{FleetClient, Membership};

pub struct EnrollArgs<'a> {
    pub server: &'a str,
    pub secret: &'a str,
    pub ca: Option<&'a Path>,
    pub name: Option<&'a str>,
}

pub fn run(ctx: &Context, args: &EnrollArgs) -> anyhow::Result<ExitCode> {
    let server = args.server.trim_end_matches('/');
    if !server.starts_with("https://") && !server.starts_with("http://") {
        anyhow::bail!("the server address {server:?} should start with https://");
    }
    let ca = args
        .ca
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read the CA certificate {}", path.display()))
        })
        .transpose()?;
    let name = args.name.unwrap_or(&ctx.machine.hostname);
    let client = FleetClient::new(server, ca.as_deref(), None)?;
    let enrolled = client
        .enroll(&EnrollRequest {
            secret: args.secret.trim().to_string(),
            name: name.to_string(),
            os: ctx.machine.os.as_str().to_string(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .context("enrollment failed")?;
    let membership = Membership {
        server: server.to_string(),
        machine: enrolled.machine,
        credential: enrolled.credential,
        ca,
    };
    // The credential works before it is kept: a server that answered
    // enrollment but does not know the credential is no fleet to join.
    FleetClient::new(server, membership.ca.as_deref(), Some(membership.credential.clone()))?
        .identity()
        .context("the server does not recognise the credential it just issued")?;
    let path = membership.save(&ctx.state_dir)?;
    let groups = if enrolled.groups.is_empty() {
        String::new()
    } else {
        format!(" in {}", enrolled.groups.join(", "))
    };
    println!(
        "enrolled as {}{groups} at {server}; credential kept in {}",
        membership.machine,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
