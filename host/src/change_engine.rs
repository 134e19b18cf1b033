//! The change engine: compares a collector's new collection with its stored
//! inventory and decides what to write and which changes to report.
//!
//! The rules it keeps:
//! - the first collection of a collector is a baseline: inventory, no changes;
//! - a collector whose settings changed is re-baselined: its new state is
//!   recorded, nothing is reported;
//! - for files and registry collectors, an item whose tracking rule was added,
//!   changed or removed is re-baselined alone; items under unchanged rules are
//!   compared as usual;
//! - an incomplete collection never removes anything (failed collections never
//!   reach this module);
//! - only tracked fields make changes; other columns are updated silently;
//! - the same input gives no change, whatever order it came in (items arrive
//!   normalised by `inventory`).

use std::collections::BTreeMap;

use std::fmt;

mod scope;

pub use scope::{KeyScope, Scope};

use crate::inventory::{DataType, INTERNAL_COLUMNS, Item, Value};

/// `ChangeCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Added,
    Removed,
    Modified,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Added, Category::Removed, Category::Modified];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Added => "Added",
            Category::Removed => "Removed",
            Category::Modified => "Modified",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields whose changes are reported, per type, each with the column its
/// previous value goes in (Azure's name where Azure has one).
pub fn tracked(data_type: DataType) -> &'static [(&'static str, &'static str)] {
    match data_type {
        DataType::Software => &[
            ("CurrentVersion", "Previous"),
            ("InstallState", "PreviousInstallState"),
            ("Publisher", "PreviousPublisher"),
        ],
        DataType::Daemons | DataType::WindowsServices => &[
            ("SvcState", "SvcPreviousState"),
            ("SvcStartupType", "SvcPreviousStartupType"),
            ("SvcPath", "SvcPreviousPath"),
            ("SvcAccount", "SvcPreviousAccount"),
            ("SvcRunlevels", "SvcPreviousRunlevels"),
            ("SvcDisplayName", "SvcPreviousDisplayName"),
            ("SvcDescription", "SvcPreviousDescription"),
        ],
        DataType::Files => &[
            ("FileType", "PreviousFileType"),
            ("Size", "PreviousSize"),
            ("DateCreated", "PreviousDateCreated"),
            ("DateModified", "PreviousDateModified"),
            ("FileContentChecksum", "PreviousFileContentChecksum"),
            ("Acls", "PreviousAcls"),
            ("Attributes", "PreviousAttributes"),
            ("LinkTarget", "PreviousLinkTarget"),
        ],
        DataType::Registry => &[("ValueType", "PreviousValueType"), ("ValueData", "PreviousValueData")],
    }
}

/// Untracked fields whose previous value still goes into a Modified row, so
/// the row tells both versions (captured file contents, for `diff`).
pub fn carried(data_type: DataType) -> &'static [(&'static str, &'static str)] {
    match data_type {
        DataType::Files => &[
            ("ContentHash", "PreviousContentHash"),
            ("ContentState", "PreviousContentState"),
        ],
        _ => &[],
    }
}

/// The previous-value column of a tracked field, by the field's name.
pub fn tracked_previous_column(field: &str) -> Option<&'static str> {
    DataType::ALL
        .into_iter()
        .flat_map(tracked)
        .find(|(column, _)| *column == field)
        .map(|(_, previous)| *previous)
}

/// The `ConfigurationChange` column holding a `ConfigurationData` column's
/// current value: the same name, except a software version is `Current`.
pub fn change_column(data_column: &str) -> &str {
    match data_column {
        "CurrentVersion" => "Current",
        other => other,
    }
}

/// What a collector's inventory was collected under: a hash of its settings,
/// and one hash per tracking rule (files paths, registry keys), by rule id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Baseline {
    pub config: String,
    pub rules: BTreeMap<String, String>,
}

impl Baseline {
    /// A baseline stored under an older fingerprint scheme, in today's
    /// terms: each hash equal to its `old` counterpart becomes its `new`
    /// one; the others stay (and so differ, as the settings behind them do).
    pub fn translate(mut self, old: &Baseline, new: &Baseline) -> Baseline {
        if self.config == old.config {
            self.config = new.config.clone();
        }
        for (rule, hash) in &mut self.rules {
            if let (Some(old), Some(new)) = (old.rules.get(rule), new.rules.get(rule))
                && hash == old
            {
                *hash = new.clone();
            }
        }
        self
    }
}

/// One change to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub category: Category,
    pub key: String,
    /// Tracked fields that changed (Modified only), in column order.
    pub fields_changed: Vec<&'static str>,
    /// `ConfigurationChange` columns: current values, then previous values.
    pub columns: Vec<(&'static str, Value)>,
}

/// What becomes of one item: the change to report, if any, and what to do
/// with the stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub change: Option<Change>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The stored row stands as it is.
    Keep,
    /// Insert or replace the stored row with this item.
    Write(Item),
    /// Delete the stored row.
    Delete,
}

/// One collection compared with the stored inventory, an item at a time,
/// under the baseline it was stored with (`before`) and today's (`now`).
pub struct Comparison<'a> {
    data_type: DataType,
    before: Option<&'a Baseline>,
    now: &'a Baseline,
    baseline: Option<&'static str>,
}

impl<'a> Comparison<'a> {
    pub fn new(data_type: DataType, before: Option<&'a Baseline>, now: &'a Baseline) -> Comparison<'a> {
        let baseline = match before {
            None => Some("first collection"),
            Some(b) if b.config != now.config => Some("collector settings changed"),
            Some(_) => None,
        };
        Comparison {
            data_type,
            before,
            now,
            baseline,
        }
    }

    /// Why the whole collection is a baseline (nothing is reported), when it is.
    pub fn baseline(&self) -> Option<&'static str> {
        self.baseline
    }

    /// An item the collection returned, and its stored row if there is one.
    pub fn present(&self, stored: Option<&Item>, current: Item) -> Verdict {
        let Some(stored) = stored else {
            let change = self.stable(&current).then(|| Change {
                category: Category::Added,
                key: current.key.clone(),
                fields_changed: Vec::new(),
                columns: change_columns(&current),
            });
            return Verdict {
                change,
                action: Action::Write(current),
            };
        };
        if current.keep_previous {
            return Verdict {
                change: None,
                action: Action::Keep,
            };
        }
        let changed: Vec<(&'static str, &'static str)> = tracked(self.data_type)
            .iter()
            .copied()
            .filter(|(column, _)| stored.get(column) != current.get(column))
            .collect();
        let reported = !changed.is_empty()
            && self.stable(stored)
            && self.stable(&current)
            && self.rule_id(stored) == self.rule_id(&current);
        let change = reported.then(|| {
            let mut columns = change_columns(&current);
            columns.extend(
                changed
                    .iter()
                    .chain(carried(self.data_type))
                    .map(|(column, previous)| (*previous, stored.get(column).cloned().unwrap_or(Value::Null))),
            );
            Change {
                category: Category::Modified,
                key: current.key.clone(),
                fields_changed: changed.iter().map(|(column, _)| *column).collect(),
                columns,
            }
        });
        let action = if stored.fields == current.fields {
            Action::Keep
        } else {
            Action::Write(current)
        };
        Verdict { change, action }
    }

    /// A stored item the collection did not return. Without a `complete`
    /// collection nothing is removed, except what is no longer tracked.
    pub fn absent(&self, stored: &Item, complete: bool) -> Verdict {
        if self.untracked(stored) {
            return Verdict {
                change: None,
                action: Action::Delete,
            };
        }
        if !complete {
            return Verdict {
                change: None,
                action: Action::Keep,
            };
        }
        let change = self.stable(stored).then(|| Change {
            category: Category::Removed,
            key: stored.key.clone(),
            fields_changed: Vec::new(),
            columns: removed_columns(stored),
        });
        Verdict {
            change,
            action: Action::Delete,
        }
    }

    /// The id of the tracking rule an item belongs to, for types with rules:
    /// a file's rule name; the longest tracked key that contains a registry value.
    fn rule_id(&self, item: &Item) -> Option<String> {
        let column = match self.data_type {
            DataType::Files => "ItemName",
            DataType::Registry => "RegistryKey",
            _ => return None,
        };
        let Some(Value::Text(text)) = item.get(column) else {
            return None;
        };
        match self.data_type {
            DataType::Files => Some(text.clone()),
            _ => self
                .now
                .rules
                .keys()
                .chain(self.before.into_iter().flat_map(|b| b.rules.keys()))
                .filter(|rule| windows_paths::registry_key::is_within(text, rule))
                .max_by_key(|rule| rule.len())
                .cloned(),
        }
    }

    /// Whether changes to this item can be reported: the collector is not
    /// being re-baselined and the item's rule is the same as before.
    fn stable(&self, item: &Item) -> bool {
        if self.baseline.is_some() {
            return false;
        }
        match (self.rule_id(item), self.before) {
            (None, _) => true,
            (Some(rule), Some(before)) => self
                .now
                .rules
                .get(&rule)
                .is_some_and(|h| before.rules.get(&rule) == Some(h)),
            (Some(_), None) => false,
        }
    }

    /// Whether the item's rule is gone from the manifest.
    fn untracked(&self, item: &Item) -> bool {
        self.rule_id(item)
            .is_some_and(|rule| !self.now.rules.contains_key(&rule))
    }
}

/// An item's values under their `ConfigurationChange` names; empty ones left out.
fn change_columns(item: &Item) -> Vec<(&'static str, Value)> {
    item.fields
        .iter()
        .filter(|(c, v)| *v != Value::Null && !INTERNAL_COLUMNS.contains(c))
        .map(|(column, value)| (change_column(column), value.clone()))
        .collect()
}

/// A removed item as it was last seen, under its current-value names, except
/// that a package's last version is `Previous` (Azure's pair for software
/// versions), leaving `Current` empty.
fn removed_columns(item: &Item) -> Vec<(&'static str, Value)> {
    item.fields
        .iter()
        .filter(|(c, v)| *v != Value::Null && !INTERNAL_COLUMNS.contains(c))
        .map(|(column, value)| match *column {
            "CurrentVersion" => ("Previous", value.clone()),
            other => (change_column(other), value.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
