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

use rustc_hash::FxHashSet;
use std::fmt;

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

/// What to do with the stored inventory and which changes to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Items to insert or replace.
    pub writes: Vec<Item>,
    /// Keys of items to delete.
    pub deletes: Vec<String>,
    /// Why the whole collection is a baseline, when it is.
    pub baseline: Option<&'static str>,
}

/// How much of the inventory a collection covers.
#[derive(Debug, Clone, Copy)]
pub struct Coverage<'a> {
    /// False when part of the source could not be read: nothing is removed.
    pub complete: bool,
    /// Items confirmed unchanged without being collected again (incremental
    /// file scans): kept as stored.
    pub retained: &'a FxHashSet<String>,
}

impl Coverage<'static> {
    /// A complete collection of everything.
    pub fn full() -> Coverage<'static> {
        static NOTHING: std::sync::OnceLock<FxHashSet<String>> = std::sync::OnceLock::new();
        Coverage {
            complete: true,
            retained: NOTHING.get_or_init(Default::default),
        }
    }
}

/// Compares `previous` (the stored inventory, sorted by key) with `current`
/// (a normalised collection) under the two baselines.
pub fn plan(
    data_type: DataType,
    previous: Vec<Item>,
    current: Vec<Item>,
    before: Option<&Baseline>,
    now: &Baseline,
    coverage: Coverage,
) -> Plan {
    let baseline = match before {
        None => Some("first collection"),
        Some(b) if b.config != now.config => Some("collector settings changed"),
        Some(_) => None,
    };
    let context = Context {
        data_type,
        before,
        now,
        whole: baseline.is_none(),
    };
    let mut plan = Plan {
        baseline,
        ..Plan::default()
    };
    let mut previous = previous.into_iter().peekable();
    let mut current = current.into_iter().peekable();
    loop {
        let order = match (previous.peek(), current.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(p), Some(c)) => p.key.cmp(&c.key),
        };
        match order {
            std::cmp::Ordering::Equal => {
                let (p, c) = (previous.next(), current.next());
                if let (Some(p), Some(c)) = (p, c) {
                    context.both(p, c, &mut plan);
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some(c) = current.next() {
                    context.added(c, &mut plan);
                }
            }
            std::cmp::Ordering::Less => {
                if let Some(p) = previous.next()
                    && !coverage.retained.contains(&p.key)
                {
                    context.missing(p, coverage.complete, &mut plan);
                }
            }
        }
    }
    plan
}

struct Context<'a> {
    data_type: DataType,
    before: Option<&'a Baseline>,
    now: &'a Baseline,
    /// Whether changes may be reported at all (not a collector-wide baseline).
    whole: bool,
}

impl Context<'_> {
    /// The id of the tracking rule an item belongs to, for types with rules:
    /// a file's rule name; the longest tracked key that contains a registry value.
    fn rule_id(&self, item: &Item) -> Option<String> {
        match (self.data_type, &self.fields_for_rules(item)) {
            (DataType::Files, Some(name)) => Some(name.to_string()),
            (DataType::Registry, Some(key)) => self
                .now
                .rules
                .keys()
                .chain(self.before.into_iter().flat_map(|b| b.rules.keys()))
                .filter(|rule| windows_paths::registry_key::is_within(key, rule))
                .max_by_key(|rule| rule.len())
                .cloned(),
            _ => None,
        }
    }

    fn fields_for_rules<'i>(&self, item: &'i Item) -> Option<&'i str> {
        let column = match self.data_type {
            DataType::Files => "ItemName",
            DataType::Registry => "RegistryKey",
            _ => return None,
        };
        match item.get(column) {
            Some(Value::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// Whether changes to this item can be reported: the collector is not
    /// being re-baselined and the item's rule is the same as before.
    fn stable(&self, item: &Item) -> bool {
        if !self.whole {
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

    fn both(&self, p: Item, c: Item, plan: &mut Plan) {
        if c.keep_previous {
            return;
        }
        let changed: Vec<(&'static str, &'static str)> = tracked(self.data_type)
            .iter()
            .copied()
            .filter(|(column, _)| p.get(column) != c.get(column))
            .collect();
        if !changed.is_empty() && self.stable(&p) && self.stable(&c) && self.rule_id(&p) == self.rule_id(&c) {
            let mut columns = change_columns(&c);
            columns.extend(
                changed
                    .iter()
                    .chain(carried(self.data_type))
                    .map(|(column, previous)| (*previous, p.get(column).cloned().unwrap_or(Value::Null))),
            );
            plan.changes.push(Change {
                category: Category::Modified,
                key: c.key.clone(),
                fields_changed: changed.iter().map(|(column, _)| *column).collect(),
                columns,
            });
        }
        if p.fields != c.fields {
            plan.writes.push(c);
        }
    }

    fn added(&self, c: Item, plan: &mut Plan) {
        if self.stable(&c) {
            plan.changes.push(Change {
                category: Category::Added,
                key: c.key.clone(),
                fields_changed: Vec::new(),
                columns: change_columns(&c),
            });
        }
        plan.writes.push(c);
    }

    fn missing(&self, p: Item, complete: bool, plan: &mut Plan) {
        if self.untracked(&p) {
            plan.deletes.push(p.key);
            return;
        }
        if !complete {
            return;
        }
        if self.stable(&p) {
            plan.changes.push(Change {
                category: Category::Removed,
                key: p.key.clone(),
                fields_changed: Vec::new(),
                columns: removed_columns(&p),
            });
        }
        plan.deletes.push(p.key);
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
