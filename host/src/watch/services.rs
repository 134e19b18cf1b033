//! Service states (a live Windows machine): the Service Control Manager is
//! asked every 10 s for every service's state, and a difference from the
//! last answer asks the services collector for a collection. Configuration
//! changes (startup type, path, account) are in the registry, which the
//! collector's registry watch covers at once.
//!
//! `NotifyServiceStatusChangeW` would say it sooner, but it takes one
//! subscription per service, new services included, and callbacks on an
//! alertable thread; Wine, which the Windows suite runs under, implements
//! it only in part. The poll costs one `EnumServicesStatusExW` per 10 s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::Trigger;
use crate::runtime::service_manager::ServiceManager;

/// How often the states are asked for.
const POLL: Duration = Duration::from_secs(10);

/// The poll of one services collector; dropping it ends the poll (within
/// a second).
pub struct ServicePoll {
    stopped: Arc<AtomicBool>,
}

impl Drop for ServicePoll {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl ServicePoll {
    pub fn start(collector: &str, triggers: UnboundedSender<Trigger>) -> ServicePoll {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let collector = collector.to_string();
        let poll = move || {
            let mut last = states();
            while !flag.load(Ordering::Relaxed) {
                for _ in 0..POLL.as_secs() {
                    std::thread::sleep(Duration::from_secs(1));
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                }
                let now = states();
                if now.is_some() && last.is_some() && now != last {
                    tracing::debug!(collector = %collector, "a service's state changed");
                    if triggers.send(Trigger::Collect).is_err() {
                        return;
                    }
                }
                if now.is_some() {
                    last = now;
                }
            }
        };
        if let Err(error) = std::thread::Builder::new().name("service-states".into()).spawn(poll) {
            tracing::warn!("service states are not watched: {error}");
        }
        ServicePoll { stopped }
    }
}

/// Every service's state, by name; `None` when the SCM cannot be asked.
fn states() -> Option<BTreeMap<String, String>> {
    match ServiceManager::Available.statuses() {
        Ok(statuses) => Some(
            statuses
                .into_iter()
                .map(|status| (status.name, format!("{:?}", status.state)))
                .collect(),
        ),
        Err(error) => {
            tracing::debug!("cannot ask the Service Control Manager: {error}");
            None
        }
    }
}
