//! Why loading or running a plugin failed, in words for people.

use std::time::Duration;

use super::bindings::types::CollectError;

/// A plugin that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{plugin}: not a valid WebAssembly component: {reason}")]
    Invalid { plugin: String, reason: String },
    #[error(
        "{plugin}: not a driftwatch collector: it exports none of the collector interfaces \
         (driftwatch:collector/packages, services, files, registry @{supported})"
    )]
    NotACollector { plugin: String, supported: &'static str },
    #[error("{plugin}: built against contract driftwatch:collector@{found}; this host supports @{supported}")]
    IncompatibleContract {
        plugin: String,
        found: String,
        supported: &'static str,
    },
    #[error("{plugin}: exports more than one collector interface ({0}); a plugin implements exactly one world", .exports.join(", "))]
    SeveralWorlds { plugin: String, exports: Vec<String> },
    #[error("{plugin}: cannot be linked: {reason}")]
    Link { plugin: String, reason: String },
    #[error("{plugin}: describe() failed: {error}")]
    Describe { plugin: String, error: RunError },
    #[error("{plugin}: default-grants() failed: {error}")]
    DefaultGrants { plugin: String, error: RunError },
    #[error("{plugin}: describe() says it is a {said} collector but it implements the {world} world")]
    KindMismatch {
        plugin: String,
        said: &'static str,
        world: &'static str,
    },
    #[error("cannot read plugin {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("plugin {path} is not the file this machine pinned: its SHA-256 is now {found}")]
    NotPinned { path: String, found: String },
}

/// A run of a plugin that failed. The host carries on; the collector's previous
/// inventory stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("exceeded its time limit of {}", humanize(*.0))]
    Timeout(Duration),
    #[error("did not return within its time limit of {} (blocked in a host call) and was abandoned", humanize(*.0))]
    Abandoned(Duration),
    #[error("exceeded its memory limit of {} (asked for {})", bytes(*limit), bytes(*asked))]
    Memory { limit: u64, asked: u64 },
    #[error("crashed: {0}")]
    Trap(String),
    #[error("returned an oversized result: {0}")]
    Oversized(String),
    #[error("returned a malformed result: {0}")]
    Malformed(String),
    #[error("could not be started: {0}")]
    Setup(String),
    #[error("{}", describe_collect_error(.0))]
    Collect(CollectError),
}

fn describe_collect_error(error: &CollectError) -> String {
    match error {
        CollectError::NotFound(m) => format!("source not found: {m}"),
        CollectError::Unreadable(m) => format!("source unreadable: {m}"),
        CollectError::InvalidSettings(m) => format!("invalid settings: {m}"),
        CollectError::Failed(m) => format!("collection failed: {m}"),
    }
}

/// `1.5 s`, `300 ms`, `5 min`.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 120.0 && d.as_secs().is_multiple_of(60) {
        format!("{} min", d.as_secs() / 60)
    } else if secs >= 1.0 {
        format!("{} s", trim_float(secs))
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `64 MiB`, `1.5 GiB`, `512 bytes`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{} {unit}", trim_float(n as f64 / size as f64));
        }
    }
    format!("{n} bytes")
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(humanize(Duration::from_secs(300)), "5 min");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(humanize(Duration::from_millis(250)), "250 ms");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(100), "100 bytes");
    }
}
