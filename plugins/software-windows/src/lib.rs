//! driftwatch collector for installed Windows programs: what "Programs and
//! Features" lists, from the `Uninstall` keys of the machine (64-bit and
//! 32-bit views) and of each user, live or from an offline image's hives.

pub mod uninstall;

use driftwatch_sdk::prelude::*;
use driftwatch_sdk::registry::{Registry, RegistryError};

use uninstall::Source;

/// The machine's programs, in the native view.
pub const MACHINE_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
/// 32-bit programs on 64-bit Windows.
pub const WOW64_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall";
/// Below `HKEY_USERS\<user>`: programs installed for one user.
pub const USER_KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Uninstall";

struct SoftwareWindows;

impl PackagesCollector for SoftwareWindows {
    fn describe() -> Description {
        driftwatch_sdk::describe!(
            "Installed Windows programs and updates, from the registry's Uninstall keys",
            [OsFamily::Windows]
        )
    }

    /// What it reads: an image's hive files, and live the Uninstall keys of the machine (both views) and of each user.
    fn default_grants() -> Vec<String> {
        [
            "/Windows/System32/config",
            "/Users",
            "/Documents and Settings",
            MACHINE_KEY,
            WOW64_KEY,
            r"HKEY_USERS\*\Software\Microsoft\Windows\CurrentVersion\Uninstall",
        ]
        .map(String::from)
        .to_vec()
    }

    fn probe() -> ProbeResult {
        if machine().os != OsFamily::Windows {
            return ProbeResult::not_applicable("not a Windows system");
        }
        let registry = Registry::open();
        let users = registry.users().unwrap_or_default();
        match registry.key(MACHINE_KEY) {
            Ok(Some(_)) => ProbeResult::applies("the machine's Uninstall key lists installed programs"),
            Ok(None) if !users.is_empty() => ProbeResult::applies(format!("the user hives of {}", users.join(", "))),
            Ok(None) => ProbeResult::not_applicable("no machine Uninstall key and no user hives"),
            Err(error) => ProbeResult::applies(format!("a Windows system ({error})")),
        }
    }

    fn collect(_settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let registry = Registry::open();
        Ok(Collection::from_vec(collect_from(&registry)))
    }
}

driftwatch_sdk::export_collector!(packages: SoftwareWindows);

/// Every program of the machine and its users. Keys that cannot be read are
/// warnings and make the collection incomplete (so nothing is taken as removed).
pub fn collect_from(registry: &Registry) -> Vec<Package> {
    // On 64-bit Windows the native view holds 64-bit programs; WOW6432Node
    // (and its Uninstall key) exists only there.
    let is_64_bit = matches!(registry.key(WOW64_KEY), Ok(Some(_)));
    let mut sources = vec![
        (MACHINE_KEY.to_string(), Source::Machine { x64: is_64_bit }),
        (WOW64_KEY.to_string(), Source::Wow64),
    ];
    match registry.users() {
        Ok(users) => sources.extend(
            users
                .into_iter()
                .map(|user| (format!(r"HKEY_USERS\{user}\{USER_KEY}"), Source::User)),
        ),
        Err(error) => unreadable("HKEY_USERS", &error),
    }
    let mut packages = Vec::new();
    for (path, source) in sources {
        match registry.key(&path) {
            Ok(Some(key)) => match key.subkeys() {
                Ok(entries) => {
                    for entry in entries {
                        match uninstall::program(&entry, source) {
                            Ok(Some(program)) => packages.push(program),
                            Ok(None) => {}
                            Err(error) => unreadable(entry.path(), &error),
                        }
                    }
                }
                Err(error) => unreadable(&path, &error),
            },
            Ok(None) => {}
            // A user's profile that is not loaded (live) has nothing to read.
            Err(RegistryError::Unavailable(_)) if matches!(source, Source::User) => {}
            Err(error) => unreadable(&path, &error),
        }
    }
    for problem in registry.take_warnings() {
        run_warning("registry", problem);
    }
    packages
}

fn unreadable(subject: &str, error: &RegistryError) {
    run_warning(subject, error.to_string());
    incomplete(format!("{subject} could not be read"));
}

#[cfg(test)]
mod tests;
