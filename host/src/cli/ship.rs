//! `driftwatch ship`, and shipping after a scan: send the fleet server what
//! it has not acknowledged.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::Context;
use crate::fleet::{self, Membership, Shipped, Verify};
use crate::output::json_record;
use crate::store::Store;

pub fn run(ctx: &Context, json: bool, verify: bool) -> anyhow::Result<ExitCode> {
    let Some(membership) = Membership::load(&ctx.state_dir)? else {
        anyhow::bail!(
            "this machine is not in a fleet (no {} in {}): enroll it first (driftwatch enroll)",
            fleet::MEMBERSHIP_FILE,
            ctx.state_dir.display()
        );
    };
    let mut store = ctx.open_store()?;
    let shipped = fleet::ship_pending(
        &mut store,
        &ctx.state_dir,
        &membership,
        if verify { Verify::Now } else { Verify::IfDue },
        &AtomicBool::new(false),
    )?;
    let mut out = std::io::stdout().lock();
    if json {
        json_record(
            &mut out,
            &ShippedJson {
                server: &membership.server,
                machine: &membership.machine,
                batches: shipped.batches,
                changes: shipped.changes,
                inventory: shipped.inventory,
                acknowledged_change_id: shipped.position.change_id,
                acknowledged_revision: shipped.position.revision,
                verified: shipped.verified,
            },
        )?;
    } else {
        writeln!(out, "{}", describe(&shipped, &membership))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// After a scan: ships when this machine is in a fleet. A failure is no
/// failure of the scan (everything stays in the outbox); it is said.
pub fn after_scan(ctx: &Context, store: &mut Store) -> Option<String> {
    let membership = match Membership::load(&ctx.state_dir) {
        Ok(Some(membership)) => membership,
        Ok(None) => return None,
        Err(error) => return Some(format!("Not shipped: {error}")),
    };
    Some(
        match fleet::ship_pending(
            store,
            &ctx.state_dir,
            &membership,
            Verify::IfDue,
            &AtomicBool::new(false),
        ) {
            Ok(shipped) => describe(&shipped, &membership),
            Err(error) => format!("Not shipped (kept for the next time): {error}"),
        },
    )
}

fn describe(shipped: &Shipped, membership: &Membership) -> String {
    let verified = match shipped.verified {
        None => "",
        Some(true) => "; the server's copy of the inventory is the same as this machine's",
        Some(false) => "; the server's copy of the inventory differed: sent whole again",
    };
    if shipped.batches == 0 {
        return format!("Nothing to ship: {} has everything{verified}", membership.server);
    }
    let batches = match shipped.batches {
        1 => "1 batch".to_string(),
        n => format!("{n} batches"),
    };
    format!(
        "Shipped {} changes and {} inventory entries to {} as {} ({batches}){verified}",
        shipped.changes, shipped.inventory, membership.server, membership.machine
    )
}

#[derive(Serialize)]
struct ShippedJson<'a> {
    server: &'a str,
    machine: &'a str,
    batches: usize,
    changes: usize,
    inventory: usize,
    acknowledged_change_id: i64,
    acknowledged_revision: i64,
    /// Compared with the server's copy: the same (true), or it differed and
    /// was sent whole again (false).
    verified: Option<bool>,
}
