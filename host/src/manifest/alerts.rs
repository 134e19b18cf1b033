//! `[[alert]]` rules: a KQL query over `ConfigurationChange`, a severity, and
//! what to do when new changes match.
//!
//! ```toml
//! [[alert]]
//! name = "hosts-file"
//! query = 'ConfigurationChange | where FileSystemPath == "/etc/hosts"'
//! severity = "high"                 # info | low | medium (default) | high | critical
//!
//! [[alert.action]]
//! type = "webhook"                  # POST a JSON document
//! url = "https://hooks.example.com/driftwatch"
//! headers = { Authorization = "Bearer ..." }
//! timeout = "10s"                   # per attempt
//! retries = 3                       # after the first attempt
//! backoff = "2s"                    # doubled after each failed attempt
//!
//! [[alert.action]]
//! type = "exec"                     # the same document on stdin
//! command = ["/usr/local/bin/page", "--team", "ops"]   # no shell
//! # shell = true, command = "page --team ops | logger"  # through /bin/sh -c
//!
//! [[alert.action]]
//! type = "log"                      # a warning in the agent's log
//! ```

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::units::DurationSetting;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub query: String,
    pub severity: Severity,
    pub enabled: bool,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Webhook(Webhook),
    Exec(Exec),
    Log,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    /// Program and arguments, or `[shell, flag, line]` when `shell = true`.
    pub argv: Vec<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

impl Action {
    /// What the action is, for records and messages: `webhook <url>`, ...
    pub fn describe(&self) -> String {
        match self {
            Action::Webhook(w) => format!("webhook {}", w.url),
            Action::Exec(e) => format!("exec {}", e.argv.join(" ")),
            Action::Log => "log".into(),
        }
    }

    /// Attempts in all, and the wait before the second one.
    pub fn attempts_and_backoff(&self) -> (u32, Duration) {
        match self {
            Action::Webhook(w) => (w.retries.saturating_add(1), w.backoff),
            Action::Exec(e) => (e.retries.saturating_add(1), e.backoff),
            Action::Log => (1, Duration::ZERO),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEntry {
    name: Spanned<String>,
    query: Spanned<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    action: Vec<ActionEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionEntry {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    command: Option<Spanned<toml::Value>>,
    #[serde(default)]
    shell: bool,
    timeout: Option<DurationSetting>,
    retries: Option<u32>,
    backoff: Option<DurationSetting>,
}

fn yes() -> bool {
    true
}

type Located = (Range<usize>, String);

pub fn alert_rules(entries: Vec<AlertEntry>) -> Result<Vec<AlertRule>, Located> {
    let catalog = crate::store::schema_catalog();
    let mut names = HashSet::new();
    let mut rules = Vec::new();
    for entry in entries {
        let name = entry.name.get_ref().clone();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err((
                entry.name.span(),
                format!("alert name {name:?} may only hold letters, digits, `-`, `_` and `.`"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err((entry.name.span(), format!("two alerts are named `{name}`")));
        }
        let query = entry.query.get_ref().clone();
        crate::query::check(&query, &catalog)
            .map_err(|e| (entry.query.span(), format!("alert `{name}`: query {e}")))?;
        if entry.action.is_empty() {
            return Err((
                entry.name.span(),
                format!("alert `{name}` has no [[alert.action]] (webhook, exec or log)"),
            ));
        }
        let actions = entry.action.into_iter().map(action).collect::<Result<Vec<_>, _>>()?;
        rules.push(AlertRule {
            name,
            query,
            severity: entry.severity.unwrap_or(Severity::Medium),
            enabled: entry.enabled,
            actions,
        });
    }
    Ok(rules)
}

fn action(entry: ActionEntry) -> Result<Action, Located> {
    let span = entry.kind.span();
    let kind = entry.kind.get_ref().as_str();
    let misplaced = |field: &str, present: bool| -> Result<(), Located> {
        if present {
            Err((span.clone(), format!("`{field}` does not apply to a {kind} action")))
        } else {
            Ok(())
        }
    };
    let timeout = |default: u64| entry.timeout.map_or(Duration::from_secs(default), |t| t.0);
    let backoff = entry.backoff.map_or(Duration::from_secs(1), |b| b.0);
    match kind {
        "webhook" => {
            misplaced("command", entry.command.is_some())?;
            misplaced("shell", entry.shell)?;
            let Some(url) = entry.url else {
                return Err((span, "a webhook action needs a `url`".into()));
            };
            let text = url.get_ref();
            if !(text.starts_with("http://") || text.starts_with("https://")) {
                return Err((
                    url.span(),
                    format!("webhook url {text:?} must start with http:// or https://"),
                ));
            }
            Ok(Action::Webhook(Webhook {
                url: text.clone(),
                headers: entry.headers.into_iter().collect(),
                timeout: timeout(10),
                retries: entry.retries.unwrap_or(3),
                backoff,
            }))
        }
        "exec" => {
            misplaced("url", entry.url.is_some())?;
            misplaced("headers", !entry.headers.is_empty())?;
            let Some(command) = entry.command else {
                return Err((span, "an exec action needs a `command`".into()));
            };
            let argv = match (command.get_ref(), entry.shell) {
                (toml::Value::Array(items), false) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .filter(|argv| argv.first().is_some_and(|p| !p.is_empty()))
                    .ok_or_else(|| {
                        (
                            command.span(),
                            "`command` is a list of strings: the program, then its arguments".to_string(),
                        )
                    })?,
                (toml::Value::String(line), true) => shell_argv(line),
                (_, false) => {
                    return Err((
                        command.span(),
                        "`command` is a list (program, arguments...); to run a shell line, set `shell = true` \
                         and give it as one string"
                            .into(),
                    ));
                }
                (_, true) => return Err((command.span(), "with `shell = true`, `command` is one string".into())),
            };
            Ok(Action::Exec(Exec {
                argv,
                timeout: timeout(30),
                retries: entry.retries.unwrap_or(0),
                backoff,
            }))
        }
        "log" => {
            misplaced("url", entry.url.is_some())?;
            misplaced("command", entry.command.is_some())?;
            Ok(Action::Log)
        }
        other => Err((span, format!("unknown action type {other:?}; use webhook, exec or log"))),
    }
}

/// The system shell running one command line.
fn shell_argv(line: &str) -> Vec<String> {
    if cfg!(windows) {
        vec!["cmd.exe".into(), "/C".into(), line.into()]
    } else {
        vec!["/bin/sh".into(), "-c".into(), line.into()]
    }
}
