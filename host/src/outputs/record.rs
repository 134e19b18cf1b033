//! A record as the outputs send it: its columns under Azure's names with
//! `Type` (the table's name, as Azure's own rows carry it) first, and a
//! one-line summary for people.

use serde_json::{Map, Value as Json};

use crate::store::{OutputRecord, RecordTable};

/// The record as one JSON object: `Type`, then its columns.
pub fn json(record: &OutputRecord) -> Map<String, Json> {
    let mut object = Map::with_capacity(record.columns.len() + 1);
    object.insert("Type".into(), Json::from(record.table.as_str()));
    object.extend(record.columns.iter().map(|(name, value)| (name.clone(), value.clone())));
    object
}

/// What the record says, in a line: `Modified Software openssl
/// (CurrentVersion)`, `Files /etc/hosts`.
pub fn summary(record: &OutputRecord) -> String {
    let text = |name: &str| {
        record
            .columns
            .get(name)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
    };
    let item = crate::inventory::item_label(&record.columns).unwrap_or_else(|| "-".into());
    match record.table {
        RecordTable::ConfigurationChange => {
            let mut line = format!(
                "{} {} {item}",
                text("ChangeCategory").unwrap_or("Changed"),
                text("ConfigChangeType").unwrap_or("-")
            );
            if let Some(fields) = text("FieldsChanged") {
                line.push_str(&format!(" ({fields})"));
            }
            line
        }
        RecordTable::ConfigurationData => format!("{} {item}", text("ConfigDataType").unwrap_or("-")),
    }
}

#[cfg(test)]
mod tests {
    use driftwatch_protocol::Position;

    use super::*;

    fn record(table: RecordTable, columns: &[(&str, &str)]) -> OutputRecord {
        OutputRecord {
            table,
            columns: columns.iter().map(|(k, v)| (k.to_string(), Json::from(*v))).collect(),
            after: Position::default(),
        }
    }

    #[test]
    fn type_comes_first_and_the_summary_names_the_item() {
        let change = record(
            RecordTable::ConfigurationChange,
            &[
                ("ConfigChangeType", "Software"),
                ("ChangeCategory", "Modified"),
                ("SoftwareName", "openssl"),
                ("FieldsChanged", "CurrentVersion"),
            ],
        );
        let object = json(&change);
        assert_eq!(object.keys().next().map(String::as_str), Some("Type"));
        assert_eq!(object["Type"], "ConfigurationChange");
        assert_eq!(summary(&change), "Modified Software openssl (CurrentVersion)");
        let value = record(
            RecordTable::ConfigurationData,
            &[
                ("ConfigDataType", "Registry"),
                ("RegistryKey", r"HKEY_LOCAL_MACHINE\Software\X"),
                ("ValueName", "Path"),
            ],
        );
        assert_eq!(summary(&value), r"Registry HKEY_LOCAL_MACHINE\Software\X\Path");
    }
}
