//! Service states (a live Windows machine). Each service is subscribed to
//! with `NotifyServiceStatusChangeW`: the Service Control Manager tells at
//! once when its state leaves the one it was in, and the services collector
//! is asked for a collection. Every 10 s the SCM is also asked for every
//! service's state: new services get their subscription, and a difference
//! from the last answer asks for a collection too — the net under a missed
//! notification, and the whole mechanism where notifications are not
//! available. Configuration changes (startup type, path, account) are in
//! the registry, which the collector's registry watch covers.
//!
//! Notifications arrive as callbacks queued to the thread that subscribed,
//! run while it waits alertably; the callback only marks its subscription,
//! and the thread subscribes again (one notification per subscription).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::null;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_CALL_NOT_IMPLEMENTED, ERROR_NOT_SUPPORTED, ERROR_SUCCESS, HANDLE, WAIT_IO_COMPLETION,
    WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, NotifyServiceStatusChangeW, OpenSCManagerW, OpenServiceW, SC_HANDLE, SC_MANAGER_CONNECT,
    SERVICE_NOTIFY_2W, SERVICE_NOTIFY_DELETE_PENDING, SERVICE_NOTIFY_STATUS_CHANGE, SERVICE_QUERY_STATUS,
};
use windows_sys::Win32::System::Threading::{CreateEventW, SetEvent, SleepEx, WaitForSingleObjectEx};

use super::Trigger;
use crate::runtime::bindings::service_manager::State;
use crate::runtime::registry_import::wide;
use crate::runtime::service_manager::ServiceManager;

/// How often every service's state is asked for.
const RESCAN: Duration = Duration::from_secs(10);

/// The state watch of one services collector; dropping it ends it.
pub struct ServiceWatch {
    /// The stop event, as a number (a handle is not `Send`).
    stop: usize,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ServiceWatch {
    fn drop(&mut self) {
        // SAFETY: the event is open until closed here, after the thread ended.
        unsafe { SetEvent(self.stop as HANDLE) };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: as above; closed once.
        unsafe { CloseHandle(self.stop as HANDLE) };
    }
}

impl ServiceWatch {
    pub fn start(collector: &str, triggers: UnboundedSender<Trigger>) -> Option<ServiceWatch> {
        // SAFETY: an unnamed manual-reset event, not signalled.
        let stop = unsafe { CreateEventW(null(), 1, 0, null()) };
        if stop.is_null() {
            tracing::warn!(collector, "service states are not watched: no event could be made");
            return None;
        }
        let stop = stop as usize;
        let name = collector.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("service-states-{name}"))
            .spawn(move || watch_states(&name, stop as HANDLE, &triggers));
        match spawned {
            Ok(thread) => Some(ServiceWatch {
                stop,
                thread: Some(thread),
            }),
            Err(error) => {
                tracing::warn!(collector, "service states are not watched: {error}");
                // SAFETY: made above, used by no thread; closed once.
                unsafe { CloseHandle(stop as HANDLE) };
                None
            }
        }
    }
}

/// The SCM's `SERVICE_*` state number of a state.
fn state_number(state: &State) -> u32 {
    match state {
        State::Stopped => 1,
        State::StartPending => 2,
        State::StopPending => 3,
        State::Running => 4,
        State::ContinuePending => 5,
        State::PausePending => 6,
        State::Paused => 7,
    }
}

/// Every `SERVICE_NOTIFY_*` state but `state` (its bit is `1 << (state - 1)`),
/// and the service being deleted.
fn leaving(state: u32) -> u32 {
    let every_state = 0x7f;
    let this = if (1..=7).contains(&state) { 1 << (state - 1) } else { 0 };
    (every_state & !this) | SERVICE_NOTIFY_DELETE_PENDING
}

/// Where a notification lands: written by the SCM, marked by the callback.
struct Slot {
    notify: SERVICE_NOTIFY_2W,
    fired: AtomicBool,
}

/// The callback of every subscription: marks it, nothing more (it runs
/// inside the thread's wait).
unsafe extern "system" fn on_status(parameter: *const c_void) {
    // SAFETY: the SCM passes the `SERVICE_NOTIFY_2W` given at subscription,
    // whose context is its slot's flag; both live in a `Slot` that stays
    // put until no callback can be queued for it (see `close`).
    let notify = unsafe { &*parameter.cast::<SERVICE_NOTIFY_2W>() };
    let fired = unsafe { &*notify.pContext.cast::<AtomicBool>() };
    fired.store(true, Ordering::Relaxed);
}

/// One service's subscription.
struct Subscription {
    handle: SC_HANDLE,
    slot: Box<Slot>,
}

impl Subscription {
    fn open(manager: SC_HANDLE, name: &str) -> Option<Subscription> {
        let name = wide(name);
        // SAFETY: `manager` is open; `name` is NUL-terminated.
        let handle = unsafe { OpenServiceW(manager, name.as_ptr(), SERVICE_QUERY_STATUS) };
        (!handle.is_null()).then(|| Subscription {
            handle,
            slot: Box::new(Slot {
                notify: SERVICE_NOTIFY_2W::default(),
                fired: AtomicBool::new(false),
            }),
        })
    }

    /// Asks to be told when the service leaves `state`; the Windows status.
    fn subscribe(&mut self, state: u32) -> u32 {
        let slot = &mut *self.slot;
        slot.fired.store(false, Ordering::Relaxed);
        slot.notify = SERVICE_NOTIFY_2W {
            dwVersion: SERVICE_NOTIFY_STATUS_CHANGE,
            pfnNotifyCallback: Some(on_status),
            pContext: (&slot.fired as *const AtomicBool).cast_mut().cast(),
            ..SERVICE_NOTIFY_2W::default()
        };
        // The SCM writes into the buffer when it notifies.
        let buffer = &raw mut slot.notify;
        // SAFETY: the handle is open; the slot is boxed, so the buffer stays
        // where it is until `close` lets it go.
        unsafe { NotifyServiceStatusChangeW(self.handle, leaving(state), buffer) }
    }

    fn fired(&self) -> bool {
        self.slot.fired.load(Ordering::Relaxed)
    }

    /// What the SCM wrote when it notified: its status, and the state.
    fn notified(&self) -> (u32, u32) {
        // SAFETY: the buffer is live and written only while the thread
        // waited (callbacks run on this thread).
        let notify = unsafe { std::ptr::read_volatile(&raw const self.slot.notify) };
        (notify.dwNotificationStatus, notify.ServiceStatus.dwCurrentState)
    }
}

/// Ends subscriptions: their handles are closed (no callback is queued
/// after that), callbacks already queued are run, then their slots go.
fn close(subscriptions: impl IntoIterator<Item = Subscription>) {
    let slots: Vec<Box<Slot>> = subscriptions
        .into_iter()
        .map(|s| {
            // SAFETY: opened by `Subscription::open`, closed once.
            unsafe { CloseServiceHandle(s.handle) };
            s.slot
        })
        .collect();
    if !slots.is_empty() {
        // SAFETY: an alertable zero wait: runs the callbacks already queued.
        unsafe { SleepEx(0, 1) };
    }
    drop(slots);
}

/// Every service's state number, by name; `None` when the SCM cannot be asked.
fn states() -> Option<BTreeMap<String, u32>> {
    match ServiceManager::Available.statuses() {
        Ok(statuses) => Some(
            statuses
                .into_iter()
                .map(|status| (status.name, state_number(&status.state)))
                .collect(),
        ),
        Err(error) => {
            tracing::debug!("cannot ask the Service Control Manager: {error}");
            None
        }
    }
}

fn watch_states(collector: &str, stop: HANDLE, triggers: &UnboundedSender<Trigger>) {
    // SAFETY: null names: this machine's active database.
    let manager = unsafe { OpenSCManagerW(null(), null(), SC_MANAGER_CONNECT) };
    let mut notifications = !manager.is_null();
    let mut subscriptions: BTreeMap<String, Subscription> = BTreeMap::new();
    let mut last: Option<BTreeMap<String, u32>> = None;
    let ask_for_collection = || triggers.send(Trigger::Collect).is_ok();
    'watch: loop {
        if let Some(now) = states() {
            if last.as_ref().is_some_and(|last| *last != now) {
                tracing::debug!(collector, "a service's state changed (seen by asking)");
                if !ask_for_collection() {
                    break 'watch;
                }
            }
            // Services gone: their subscriptions end.
            let gone: Vec<String> = subscriptions
                .keys()
                .filter(|n| !now.contains_key(*n))
                .cloned()
                .collect();
            close(gone.iter().filter_map(|name| subscriptions.remove(name)));
            if notifications {
                notifications = subscribe_new(collector, manager, &now, &mut subscriptions);
            }
            last = Some(now);
        }
        let next_scan = Instant::now() + RESCAN;
        loop {
            let left = next_scan.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // SAFETY: `stop` stays open until this thread ended; alertable,
            // so that queued notifications run here.
            let woke = unsafe { WaitForSingleObjectEx(stop, left.as_millis() as u32, 1) };
            match woke {
                WAIT_OBJECT_0 => break 'watch,
                WAIT_IO_COMPLETION => {
                    if !take_notifications(collector, &mut subscriptions, last.as_mut()) {
                        continue;
                    }
                    if !ask_for_collection() {
                        break 'watch;
                    }
                }
                WAIT_TIMEOUT => break,
                _ => {
                    tracing::warn!(collector, "service states are no longer watched: the wait failed");
                    break 'watch;
                }
            }
        }
    }
    close(std::mem::take(&mut subscriptions).into_values());
    if !manager.is_null() {
        // SAFETY: opened above, closed once.
        unsafe { CloseServiceHandle(manager) };
    }
}

/// Subscribes to the services of `now` that have no subscription yet.
/// False when the SCM does not do notifications (the asking goes on alone).
fn subscribe_new(
    collector: &str,
    manager: SC_HANDLE,
    now: &BTreeMap<String, u32>,
    subscriptions: &mut BTreeMap<String, Subscription>,
) -> bool {
    let mut added = 0;
    for (name, state) in now {
        if subscriptions.contains_key(name) {
            continue;
        }
        let Some(mut subscription) = Subscription::open(manager, name) else {
            continue; // not ours to query: the asking covers it
        };
        match subscription.subscribe(*state) {
            ERROR_SUCCESS => {
                subscriptions.insert(name.clone(), subscription);
                added += 1;
            }
            status @ (ERROR_CALL_NOT_IMPLEMENTED | ERROR_NOT_SUPPORTED) => {
                close([subscription]);
                tracing::info!(
                    collector,
                    "service state notifications are not available (Windows error {status}): states are asked for every {}",
                    crate::runtime::humanize(RESCAN)
                );
                return false;
            }
            status => {
                close([subscription]);
                tracing::debug!(
                    collector,
                    "service {name}: no state notifications (Windows error {status})"
                );
            }
        }
    }
    if added > 0 {
        tracing::debug!(
            collector,
            "state notifications for {added} more services ({} in all)",
            subscriptions.len()
        );
    }
    true
}

/// Takes the notifications that arrived: each subscription that fired is
/// renewed from the state it told, and `last` learns that state (so that
/// the next asking does not count the change again). True when any fired.
fn take_notifications(
    collector: &str,
    subscriptions: &mut BTreeMap<String, Subscription>,
    mut last: Option<&mut BTreeMap<String, u32>>,
) -> bool {
    let fired: Vec<String> = subscriptions
        .iter()
        .filter(|(_, s)| s.fired())
        .map(|(name, _)| name.clone())
        .collect();
    for name in &fired {
        let Some(subscription) = subscriptions.get_mut(name) else {
            continue;
        };
        let (status, state) = subscription.notified();
        tracing::debug!(collector, "service {name}: state {state} (notified)");
        if let Some(last) = last.as_deref_mut() {
            last.insert(name.clone(), state);
        }
        // Lagging, deleted, or not renewed: the next asking subscribes again.
        if status != ERROR_SUCCESS || subscription.subscribe(state) != ERROR_SUCCESS {
            close(subscriptions.remove(name));
        }
    }
    !fired.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_asks_for_every_state_but_the_current_one() {
        assert_eq!(leaving(4), 0x77 | SERVICE_NOTIFY_DELETE_PENDING);
        assert_eq!(leaving(1), 0x7e | SERVICE_NOTIFY_DELETE_PENDING);
        assert_eq!(leaving(0), 0x7f | SERVICE_NOTIFY_DELETE_PENDING);
    }
}
