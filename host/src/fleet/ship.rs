//! Shipping: what the server has not acknowledged, batch by batch, until
//! nothing is pending. The store is the outbox: nothing is lost while the
//! server is away, and a batch sent twice changes nothing there.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use driftwatch_protocol::{CollectorHealthReport, InventoryEntry, Position, ShipBatch};

use super::{FleetClient, FleetError, Membership};
use crate::content_store::ContentStore;
use crate::store::{Store, StoreError};
use crate::timefmt;

/// Entries (change rows and inventory writes or removals) per batch.
pub const BATCH_ENTRIES: usize = 2_000;

/// How often the inventory is compared with the server's copy.
pub const VERIFY_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Whether to compare the inventory with the server's copy this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// When the last comparison is older than `VERIFY_EVERY`.
    IfDue,
    Now,
}

/// What one round of shipping sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shipped {
    pub batches: usize,
    pub changes: usize,
    pub inventory: usize,
    pub position: Position,
    /// The inventory was compared with the server's: `Some(true)` the
    /// same; `Some(false)` it differed and was sent whole again.
    pub verified: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot take the shipping lock {path}: {error}")]
    Lock { path: String, error: std::io::Error },
    #[error(
        "the server already has changes up to {0} from this machine, but this state directory has shipped none: \
         it is not the one that sent them (a new or moved-aside state database, a cloned machine). \
         Nothing was sent; enroll again under this name (revoke the old one first) or another"
    )]
    NotTheSender(i64),
}

/// Ships everything pending from the store in `state_dir`. Only one
/// process ships from a state directory at a time; another one waits.
/// `stop` ends it between two batches.
pub fn ship_pending(
    store: &mut Store,
    state_dir: &Path,
    membership: &Membership,
    verify: Verify,
    stop: &AtomicBool,
) -> Result<Shipped, ShipError> {
    let _lock = lock(state_dir)?;
    let client = FleetClient::new(
        &membership.server,
        membership.ca.as_deref(),
        Some(membership.credential.clone()),
    )?;
    let contents = ContentStore::in_state_dir(state_dir);
    let mut position = store.outbox_position(&membership.server, &membership.machine)?;
    if position == Position::default() {
        // A first shipment: the server must have nothing from this
        // machine, or this store's change ids would be taken for repeats —
        // unless this store sent it and the acknowledgement was lost.
        let server = client.position().inspect_err(|error| note(store, error))?;
        if server != Position::default() && store.has_sent()? {
            tracing::info!(
                "the fleet server has what this machine sent before its acknowledgement was lost \
                 (changes up to {}, inventory up to {}): going on from there",
                server.change_id,
                server.revision
            );
            store.acknowledge(server, &timefmt::now())?;
            position = server;
        } else if server.change_id > 0 {
            let error = ShipError::NotTheSender(server.change_id);
            if let Err(noted) = store.note_ship_error(&error.to_string()) {
                tracing::warn!("{noted}");
            }
            return Err(error);
        }
    }
    let mut shipped = Shipped {
        position,
        ..Shipped::default()
    };
    let mut realigned = false;
    let mut asked = false;
    while !stop.load(Ordering::Relaxed) {
        let Some(batch) = store.next_batch(position, BATCH_ENTRIES)? else {
            // Nothing pending here: does the server still have all of it?
            if asked || realigned {
                break;
            }
            asked = true;
            let due = match verify {
                Verify::Now => true,
                Verify::IfDue => is_due(store.last_verified()?.as_deref()),
            };
            let digest = if due {
                Some(client.digest().inspect_err(|error| note(store, error))?)
            } else {
                None
            };
            let server = match &digest {
                Some(digest) => digest.position,
                None => client.position().inspect_err(|error| note(store, error))?,
            };
            if server.change_id < position.change_id || server.revision < position.revision {
                position = realign(store, position, server)?;
                realigned = true;
                continue;
            }
            if let Some(digest) = digest
                && server == position
            {
                let ours = store.inventory_digest()?;
                let same = ours == digest.collectors;
                shipped.verified = Some(same);
                if same {
                    store.note_verified(&timefmt::now())?;
                } else {
                    tracing::warn!(
                        "the server's copy of the inventory differs from this machine's: sending it whole again"
                    );
                    position.revision = 0;
                    store.acknowledge(position, &timefmt::now())?;
                    realigned = true;
                    continue;
                }
            }
            break;
        };
        send_contents(&client, &contents, &batch).inspect_err(|error| note(store, error))?;
        store.note_sending()?;
        match client.ship(&batch) {
            Ok(acknowledged) => {
                store.acknowledge(acknowledged, &timefmt::now())?;
                shipped.batches += 1;
                shipped.changes += batch.changes.len();
                shipped.inventory += batch.inventory.len();
                position = acknowledged;
            }
            Err(FleetError::Refused {
                status: 409,
                position: Some(server),
                ..
            }) if !realigned => {
                position = realign(store, position, server)?;
                realigned = true;
            }
            Err(error) => {
                note(store, &error);
                return Err(error.into());
            }
        }
    }
    shipped.position = position;
    if !stop.load(Ordering::Relaxed) {
        report_collectors(store, &client);
    }
    Ok(shipped)
}

/// Tells the server how each collector last ran, when one has run since
/// it was last told. What was shipped stands whatever becomes of this: a
/// report that fails is tried again after the next shipment.
fn report_collectors(store: &mut Store, client: &FleetClient) {
    let (reported, latest) = match store.runs_to_report() {
        Ok(runs) => runs,
        Err(error) => {
            tracing::warn!("cannot read the collectors' runs to report them: {error}");
            return;
        }
    };
    if latest <= reported {
        return;
    }
    let collectors = match store.collector_health() {
        Ok(collectors) => collectors,
        Err(error) => {
            tracing::warn!("cannot read the collectors' runs to report them: {error}");
            return;
        }
    };
    let heartbeat = match store.last_heartbeat() {
        Ok(heartbeat) => heartbeat,
        Err(error) => {
            tracing::warn!("cannot read the last heartbeat: {error}");
            None
        }
    };
    if let Err(error) = client.report_collectors(&CollectorHealthReport { collectors, heartbeat }) {
        tracing::warn!("the fleet server was not told how the collectors ran: {error}");
        return;
    }
    if let Err(error) = store.note_runs_reported(latest) {
        tracing::warn!("{error}");
    }
}

/// The server has less than it acknowledged (its database restored from
/// a backup, say). Changes are sent again from where it stands; the
/// inventory whole, since removals it missed are no longer kept.
fn realign(store: &mut Store, ours: Position, server: Position) -> Result<Position, ShipError> {
    tracing::warn!(
        "the fleet server has changes up to {} and inventory up to {}, less than it acknowledged: sending again from there",
        server.change_id,
        server.revision
    );
    let position = Position {
        change_id: server.change_id.min(ours.change_id),
        revision: if server.revision < ours.revision {
            0
        } else {
            ours.revision
        },
    };
    store.acknowledge(position, &timefmt::now())?;
    Ok(position)
}

/// Sends the captured contents `batch` refers to that the server lacks,
/// before the batch: a row on the server never names a content it cannot
/// show. A content no longer kept here (pruned) is left out.
fn send_contents(client: &FleetClient, contents: &ContentStore, batch: &ShipBatch) -> Result<(), FleetError> {
    let mut hashes: Vec<String> = batch
        .changes
        .iter()
        .flat_map(|row| [row.get("ContentHash"), row.get("PreviousContentHash")])
        .chain(batch.inventory.iter().map(|entry| match entry {
            InventoryEntry::Write { row, .. } => row.get("ContentHash"),
            InventoryEntry::Remove { .. } => None,
        }))
        .flatten()
        .filter_map(|value| value.as_str().map(str::to_string))
        .collect();
    hashes.sort();
    hashes.dedup();
    if hashes.is_empty() {
        return Ok(());
    }
    for hash in client.missing_contents(hashes)? {
        match contents.get(&hash) {
            Ok(content) => client.put_content(&hash, &content)?,
            Err(error) => tracing::debug!("content {hash} not sent: {error}"),
        }
    }
    Ok(())
}

/// Whether a comparison last made at `last` (stored time) is due again.
fn is_due(last: Option<&str>) -> bool {
    let Some(last) = last.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return true;
    };
    let age = jiff::Timestamp::now().duration_since(last);
    age.as_secs() < 0 || age.unsigned_abs() >= VERIFY_EVERY
}

fn note(store: &mut Store, error: &FleetError) {
    if let Err(note) = store.note_ship_error(&error.to_string()) {
        tracing::warn!("{note}");
    }
}

fn lock(state_dir: &Path) -> Result<std::fs::File, ShipError> {
    let path = state_dir.join("ship.lock");
    let error = |error| ShipError::Lock {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(error)?;
    file.lock().map_err(error)?;
    Ok(file)
}
