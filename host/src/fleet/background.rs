//! The agent's shipping task: ships after each committed run, and retries
//! with backoff and jitter while the server cannot be reached. Everything
//! waits in the store meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Membership, Verify, ship_pending};
use crate::store::Store;

/// The first wait after a failure, doubled at each failure up to `RETRY_MAX`.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// With nothing committed, a look for anything left over this often.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// Ships until `stopped`, woken by `committed` (a run was recorded).
pub async fn ship_loop(
    state_dir: PathBuf,
    membership: Membership,
    committed: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    tracing::info!("shipping to {} as {}", membership.server, membership.machine);
    let membership = Arc::new(membership);
    let stop = Arc::new(AtomicBool::new(false));
    let mut store: Option<Store> = None;
    let mut failures = 0u32;
    loop {
        let attempt = {
            let (state_dir, membership, stop) = (state_dir.clone(), membership.clone(), stop.clone());
            let mut taken = store.take();
            tokio::task::spawn_blocking(move || {
                let result = ship_once(&mut taken, &state_dir, &membership, &stop);
                (taken, result)
            })
        };
        tokio::pin!(attempt);
        let outcome = tokio::select! {
            done = &mut attempt => done,
            _ = stopped.changed() => {
                stop.store(true, Ordering::Relaxed);
                let _ = attempt.await;
                return;
            }
        };
        let wait = match outcome {
            Ok((kept, Ok(()))) => {
                store = kept;
                failures = 0;
                None
            }
            Ok((kept, Err(error))) => {
                store = kept;
                failures += 1;
                let wait = backoff(failures);
                tracing::warn!(
                    "shipping failed, trying again in {}: {error}",
                    crate::runtime::humanize(wait)
                );
                Some(wait)
            }
            Err(error) => {
                tracing::error!("shipping task failed: {error}");
                Some(RETRY_MAX)
            }
        };
        match wait {
            // Runs committed during a backoff wait for its end.
            Some(wait) => tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => return,
            },
            None => tokio::select! {
                _ = committed.notified() => {}
                _ = tokio::time::sleep(IDLE_CHECK) => {}
                _ = stopped.changed() => return,
            },
        }
    }
}

fn ship_once(
    store: &mut Option<Store>,
    state_dir: &std::path::Path,
    membership: &Membership,
    stop: &AtomicBool,
) -> Result<(), String> {
    if store.is_none() {
        *store = Some(Store::open(state_dir).map_err(|e| e.to_string())?);
    }
    let Some(store) = store.as_mut() else { return Ok(()) };
    let shipped = ship_pending(store, state_dir, membership, Verify::IfDue, stop).map_err(|e| e.to_string())?;
    if shipped.batches > 0 {
        tracing::info!(
            "shipped {} changes and {} inventory entries ({} batches)",
            shipped.changes,
            shipped.inventory,
            shipped.batches
        );
    }
    Ok(())
}

/// The wait after `failures` failures in a row: doubling from `RETRY_MIN`
/// up to `RETRY_MAX`, give or take a quarter, so that a fleet that lost its
/// server does not come back all at once.
fn backoff(failures: u32) -> Duration {
    let base = RETRY_MIN
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(RETRY_MAX);
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// How often the agent asks the server for its group's manifest (plus up
/// to `MANIFEST_JITTER`, so that a fleet does not ask in step).
const MANIFEST_POLL: Duration = Duration::from_secs(60);
const MANIFEST_JITTER: Duration = Duration::from_secs(10);

/// Asks for the group's manifest at once, then every minute or so, until
/// `stopped`. When the server manifest kept in the state directory is no
/// longer `running` (the one kept when the schedule started: a new one
/// applied or one withdrawn, here or by a `driftwatch scan`), wakes
/// `changed` (the agent reloads, which starts a new loop) and ends.
pub async fn manifest_loop(
    state_dir: PathBuf,
    membership: Membership,
    local: crate::manifest::Manifest,
    running: Option<(String, String)>,
    changed: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let (membership, local) = (Arc::new(membership), Arc::new(local));
    loop {
        let asked = {
            let (state_dir, membership, local) = (state_dir.clone(), membership.clone(), local.clone());
            tokio::task::spawn_blocking(move || super::manifest::fetch(&state_dir, &membership, &local))
        };
        let asked = tokio::select! {
            asked = asked => asked,
            _ = stopped.changed() => return,
        };
        match asked {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!("cannot ask the fleet server for the manifest: {error}"),
            Err(error) => tracing::error!("manifest task failed: {error}"),
        }
        if super::manifest::kept(&state_dir) != running {
            changed.notify_one();
            return;
        }
        let jitter = Duration::from_millis(fastrand::u64(0..MANIFEST_JITTER.as_millis() as u64));
        tokio::select! {
            _ = tokio::time::sleep(MANIFEST_POLL + jitter) => {}
            _ = stopped.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        for _ in 0..100 {
            let first = backoff(1);
            assert!(
                first >= RETRY_MIN.mul_f64(0.75) && first <= RETRY_MIN.mul_f64(1.25),
                "{first:?}"
            );
            let third = backoff(3);
            assert!(third >= (RETRY_MIN * 4).mul_f64(0.75) && third <= (RETRY_MIN * 4).mul_f64(1.25));
            let late = backoff(40);
            assert!(
                late >= RETRY_MAX.mul_f64(0.75) && late <= RETRY_MAX.mul_f64(1.25),
                "{late:?}"
            );
        }
    }
}
