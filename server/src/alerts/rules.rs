//! Fleet alert rules, written as the agent's `[[alert]]` tables (see the
//! agent's manifest): a KQL query over `ConfigurationChange`, a severity,
//! and actions. The server runs no programs: its actions are `webhook` and
//! `log`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::database::query::catalog;
use crate::duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub query: String,
    pub severity: String,
    pub enabled: bool,
    pub actions: Vec<ActionSpec>,
}

/// An action as a raised alert keeps it (JSON in the database), so that a
/// later change of the rule does not change a delivery under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ActionSpec {
    Webhook {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        timeout_ms: u64,
        /// Attempts after the first.
        retries: u32,
        /// The wait before the second attempt, doubled after each.
        backoff_ms: u64,
    },
    Log,
}

impl ActionSpec {
    /// What the action is, for records and messages.
    pub fn describe(&self) -> String {
        match self {
            ActionSpec::Webhook { url, .. } => format!("webhook {url}"),
            ActionSpec::Log => "log".into(),
        }
    }
}

const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const WEBHOOK_RETRIES: u32 = 5;
const WEBHOOK_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    alert: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    query: String,
    severity: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    action: Vec<ActionEntry>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionEntry {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<String>,
    retries: Option<u32>,
    backoff: Option<String>,
    /// The agent's `exec` fields, read only to refuse them clearly.
    #[serde(default)]
    command: Option<toml::Value>,
    #[serde(default)]
    shell: Option<bool>,
}

/// Reads and checks a rules file: names unique, severities known, queries
/// that translate for the fleet's tables, actions the server can take.
pub fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let catalog = catalog();
    let mut rules: Vec<Rule> = Vec::new();
    for entry in file.alert {
        let name = entry.name.trim().to_string();
        if name.is_empty() {
            return Err("an alert needs a name".into());
        }
        if rules.iter().any(|r| r.name == name) {
            return Err(format!("two alerts are named `{name}`"));
        }
        let severity = entry.severity.unwrap_or_else(|| "medium".into());
        if !SEVERITIES.contains(&severity.as_str()) {
            return Err(format!(
                "alert `{name}`: unknown severity {severity:?}; use {}",
                SEVERITIES.join(", ")
            ));
        }
        if !entry.query.trim_start().starts_with("ConfigurationChange") {
            return Err(format!("alert `{name}`: alert rules query ConfigurationChange"));
        }
        driftwatch_kql::check(&entry.query, &catalog).map_err(|e| format!("alert `{name}`: query {}", e.render()))?;
        if entry.action.is_empty() {
            return Err(format!("alert `{name}` has no [[alert.action]] (webhook or log)"));
        }
        let actions = entry
            .action
            .into_iter()
            .map(|a| action(a).map_err(|e| format!("alert `{name}`: {e}")))
            .collect::<Result<_, _>>()?;
        rules.push(Rule {
            name,
            query: entry.query,
            severity,
            enabled: entry.enabled,
            actions,
        });
    }
    Ok(rules)
}

fn action(entry: ActionEntry) -> Result<ActionSpec, String> {
    let millis = |setting: Option<String>, default: Duration| -> Result<u64, String> {
        setting
            .map(|s| duration::parse(&s))
            .transpose()
            .map(|d| d.unwrap_or(default).as_millis() as u64)
    };
    match entry.kind.as_str() {
        "webhook" => {
            let url = entry.url.ok_or("a webhook action needs a `url`")?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("the webhook url {url:?} is not http(s)"));
            }
            Ok(ActionSpec::Webhook {
                url,
                headers: entry.headers,
                timeout_ms: millis(entry.timeout, WEBHOOK_TIMEOUT)?,
                retries: entry.retries.unwrap_or(WEBHOOK_RETRIES),
                backoff_ms: millis(entry.backoff, WEBHOOK_BACKOFF)?,
            })
        }
        _ if entry.command.is_some() || entry.shell.is_some() => {
            Err("the server runs no programs (`command`, `shell`): use a webhook or log action".into())
        }
        "log" => {
            if entry.url.is_some() || !entry.headers.is_empty() {
                return Err("a log action takes no `url` or `headers`".into());
            }
            Ok(ActionSpec::Log)
        }
        "exec" => Err("the server runs no programs: use a webhook or log action".into()),
        other => Err(format!("unknown action type {other:?}; use webhook or log")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_whole() {
        let rules = parse(
            r#"
[[alert]]
name = "hosts"
query = 'ConfigurationChange | where FileSystemPath has "hosts"'
severity = "high"
  [[alert.action]]
  type = "webhook"
  url = "https://hooks.example.com/x"
  headers = { Authorization = "Bearer t" }
  retries = 2
  backoff = "1s"
  [[alert.action]]
  type = "log"
"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].severity, "high");
        assert_eq!(
            rules[0].actions[0],
            ActionSpec::Webhook {
                url: "https://hooks.example.com/x".into(),
                headers: [("Authorization".to_string(), "Bearer t".to_string())].into(),
                timeout_ms: 10_000,
                retries: 2,
                backoff_ms: 1000,
            }
        );
        let bad = |text: &str| parse(text).unwrap_err();
        let exec = "[[alert]]\nname = \"a\"\nquery = \"ConfigurationChange\"\n[[alert.action]]\ntype = \"exec\"\n";
        assert!(bad(exec).contains("the server runs no programs"));
        let query = "[[alert]]\nname = \"a\"\nquery = \"ConfigurationChange | where Nope == 1\"\n[[alert.action]]\ntype = \"log\"\n";
        assert!(bad(query).contains("unknown column 'Nope'"));
        let data = "[[alert]]\nname = \"a\"\nquery = \"ConfigurationData\"\n[[alert.action]]\ntype = \"log\"\n";
        assert!(bad(data).contains("query ConfigurationChange"));
        let twice = format!(
            "{}{}",
            query.replace("| where Nope == 1", ""),
            query.replace("| where Nope == 1", "")
        );
        assert!(bad(&twice).contains("two alerts are named `a`"));
        assert!(bad("[[alert]]\nname = \"a\"\nquery = \"ConfigurationChange\"\n").contains("no [[alert.action]]"));
    }
}
