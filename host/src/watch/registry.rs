//! Registry watches (a live Windows machine): each key a collector reads —
//! a registry collector's tracked keys, another's registry grants — gets
//! `RegNotifyChangeKeyValue` (names and values, below it too where the
//! collector reads below it). A change of a tracked key asks for a run of
//! the rules that read that key alone (`Trigger::Changed` with the key);
//! a change under another collector's grants asks for a collection.
//!
//! One thread per collector opens the keys, arms their notifications and
//! waits on their events; a notification fires once, so it is armed again
//! before the trigger is sent. A key that does not exist yet is not watched
//! (scheduled runs see it appear); keys with a `*` (every user's hive) are
//! left to the schedule too. At most 63 keys per collector (the wait's
//! limit, one slot being the stop event).

use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedSender;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Registry::{
    HKEY, KEY_NOTIFY, KEY_WOW64_64KEY, REG_NOTIFY_CHANGE_LAST_SET, REG_NOTIFY_CHANGE_NAME, RegCloseKey,
    RegNotifyChangeKeyValue, RegOpenKeyExW,
};
use windows_sys::Win32::System::Threading::{CreateEventW, INFINITE, SetEvent, WaitForMultipleObjects};

use super::Trigger;
use crate::kind::Kind;
use crate::manifest::CollectorSpec;

/// Keys one collector may watch (64 handles per wait, one is the stop).
const MAX_KEYS: usize = 63;

/// A collector's registry watches; dropping it ends them.
pub struct RegistryWatch {
    /// The stop event, as a number (a handle is not `Send`).
    stop: usize,
    thread: Option<JoinHandle<()>>,
    pub watched: usize,
}

impl Drop for RegistryWatch {
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

/// The keys `spec` reads, normalized, and whether below them too.
fn keys(spec: &CollectorSpec) -> Vec<(String, bool)> {
    let wanted: Vec<(&str, bool)> = if spec.kind == Kind::Registry {
        spec.keys
            .iter()
            .filter(|k| k.enabled)
            .map(|k| (k.key.as_str(), k.recurse))
            .collect()
    } else {
        spec.registry_grants.iter().map(|g| (g.as_str(), true)).collect()
    };
    wanted
        .into_iter()
        .filter(|(key, _)| !key.contains('*'))
        .filter_map(|(key, deep)| Some((crate::runtime::registry_import::normalize(key).ok()?, deep)))
        .collect()
}

/// Starts watching the keys `spec` reads; `None` when there are none.
pub fn watch(spec: &CollectorSpec, triggers: UnboundedSender<Trigger>) -> Option<RegistryWatch> {
    let mut keys = keys(spec);
    if keys.is_empty() {
        return None;
    }
    if keys.len() > MAX_KEYS {
        tracing::warn!(
            collector = %spec.name,
            "only the first {MAX_KEYS} of its {} registry keys are watched; the rest are left to its schedule",
            keys.len()
        );
        keys.truncate(MAX_KEYS);
    }
    let name = spec.name.clone();
    let targeted = spec.kind == Kind::Registry;
    let (ready, started) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("registry-watch-{name}"))
        .spawn(move || watch_thread(&name, keys, targeted, triggers, ready))
        .ok()?;
    match started.recv() {
        Ok((stop, watched)) if watched > 0 => Some(RegistryWatch {
            stop,
            thread: Some(thread),
            watched,
        }),
        Ok((stop, _)) => {
            let _ = thread.join();
            // SAFETY: the thread has ended; the event is closed once.
            unsafe { CloseHandle(stop as HANDLE) };
            None
        }
        Err(_) => {
            let _ = thread.join();
            None
        }
    }
}

/// An open key with its notification event, closed when dropped.
struct WatchedKey {
    path: String,
    deep: bool,
    key: HKEY,
    event: HANDLE,
}

impl WatchedKey {
    fn open(path: &str, deep: bool) -> Option<WatchedKey> {
        let (root, rest) = crate::runtime::registry_import::split_root(path)?;
        let subkey = crate::runtime::registry_import::wide(rest);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: `subkey` is NUL-terminated; `key` receives the handle.
        let status = unsafe { RegOpenKeyExW(root, subkey.as_ptr(), 0, KEY_NOTIFY | KEY_WOW64_64KEY, &mut key) };
        if status != ERROR_SUCCESS {
            tracing::debug!("registry key {path} not watched (Windows error {status})");
            return None;
        }
        // SAFETY: an unnamed auto-reset event, not signalled.
        let event = unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) };
        if event.is_null() {
            // SAFETY: opened above, closed once.
            unsafe { RegCloseKey(key) };
            return None;
        }
        let watched = WatchedKey {
            path: path.to_string(),
            deep,
            key,
            event,
        };
        watched.arm().then_some(watched)
    }

    /// Asks for the next change to signal the event.
    fn arm(&self) -> bool {
        // SAFETY: both handles are open; asynchronous: the call returns at once.
        let status = unsafe {
            RegNotifyChangeKeyValue(
                self.key,
                i32::from(self.deep),
                REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET,
                self.event,
                1,
            )
        };
        if status != ERROR_SUCCESS {
            tracing::debug!("registry key {} not watched (Windows error {status})", self.path);
        }
        status == ERROR_SUCCESS
    }
}

impl Drop for WatchedKey {
    fn drop(&mut self) {
        // SAFETY: both handles were opened by `open` and are closed once.
        unsafe {
            RegCloseKey(self.key);
            CloseHandle(self.event);
        }
    }
}

/// `targeted`: a change names its key (a registry collector's tracked
/// keys) rather than asking for a whole collection.
fn watch_thread(
    name: &str,
    keys: Vec<(String, bool)>,
    targeted: bool,
    triggers: UnboundedSender<Trigger>,
    ready: mpsc::Sender<(usize, usize)>,
) {
    // SAFETY: an unnamed manual-reset event, not signalled.
    let stop = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if stop.is_null() {
        return;
    }
    let watched: Vec<WatchedKey> = keys
        .iter()
        .filter_map(|(path, deep)| WatchedKey::open(path, *deep))
        .collect();
    let mut handles: Vec<HANDLE> = vec![stop];
    handles.extend(watched.iter().map(|k| k.event));
    if ready.send((stop as usize, watched.len())).is_ok() && !watched.is_empty() {
        tracing::debug!(collector = %name, "watching {} registry keys", watched.len());
        loop {
            // SAFETY: every handle in `handles` stays open for the loop.
            let signalled = unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, INFINITE) };
            let index = signalled.wrapping_sub(WAIT_OBJECT_0) as usize;
            if index == 0 || index >= handles.len() {
                break; // stopped, or the wait failed
            }
            let key = &watched[index - 1];
            let armed = key.arm();
            tracing::debug!(collector = %name, "registry key {} changed", key.path);
            let trigger = if targeted {
                Trigger::Changed(vec![key.path.clone()])
            } else {
                Trigger::Collect
            };
            if triggers.send(trigger).is_err() {
                break;
            }
            if !armed {
                tracing::warn!(collector = %name, "registry key {} is no longer watched", key.path);
                // A key that cannot be watched again: leave it to the schedule.
                handles[index] = stop;
            }
        }
    }
    // The stop event is closed by whoever made the thread, once it ended.
}
