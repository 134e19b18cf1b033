//! Reading an [`InventoryEntry`] from its tagged object in one pass: the
//! two variants' fields have distinct names, so each field goes where it
//! belongs whatever comes first, and `op` decides at the end.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::{Columns, InventoryEntry};

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Op,
    Revision,
    Row,
    Collector,
    ItemKey,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Write,
    Remove,
}

impl<'de> Deserialize<'de> for InventoryEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

/// Sets a field seen once; a second time is an error, as serde's derive
/// would have it.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = InventoryEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an inventory entry (an object with \"op\": \"write\" or \"remove\")")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InventoryEntry, A::Error> {
        let mut op: Option<Op> = None;
        let mut revision: Option<i64> = None;
        let mut row: Option<Columns> = None;
        let mut collector: Option<String> = None;
        let mut item_key: Option<String> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Op => once(&mut op, &mut map, "op")?,
                Field::Revision => once(&mut revision, &mut map, "revision")?,
                Field::Row => once(&mut row, &mut map, "row")?,
                Field::Collector => once(&mut collector, &mut map, "collector")?,
                Field::ItemKey => once(&mut item_key, &mut map, "item_key")?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = de::Error::missing_field;
        let revision = revision.ok_or_else(|| missing("revision"))?;
        match op.ok_or_else(|| missing("op"))? {
            Op::Write => Ok(InventoryEntry::Write {
                revision,
                row: row.ok_or_else(|| missing("row"))?,
            }),
            Op::Remove => Ok(InventoryEntry::Remove {
                revision,
                collector: collector.ok_or_else(|| missing("collector"))?,
                item_key: item_key.ok_or_else(|| missing("item_key"))?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_read_back_what_was_written_in_any_field_order() {
        let write = InventoryEntry::Write {
            revision: 3,
            row: json!({"Collector": "dpkg", "ItemKey": "bash"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let remove = InventoryEntry::Remove {
            revision: 4,
            collector: "dpkg".into(),
            item_key: "gone".into(),
        };
        for entry in [&write, &remove] {
            let text = serde_json::to_string(entry).unwrap();
            assert_eq!(&serde_json::from_str::<InventoryEntry>(&text).unwrap(), entry);
        }
        let reordered = r#"{"item_key": "gone", "revision": 4, "extra": [1], "collector": "dpkg", "op": "remove"}"#;
        assert_eq!(serde_json::from_str::<InventoryEntry>(reordered).unwrap(), remove);
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for (text, reason) in [
            (r#"{"op": "write", "revision": 1}"#, "missing field `row`"),
            (
                r#"{"op": "remove", "revision": 1, "collector": "c"}"#,
                "missing field `item_key`",
            ),
            (r#"{"revision": 1, "row": {}}"#, "missing field `op`"),
            (r#"{"op": "delete", "revision": 1}"#, "unknown variant `delete`"),
            (
                r#"{"op": "write", "op": "write", "revision": 1, "row": {}}"#,
                "duplicate field `op`",
            ),
            (r#"{"op": "write", "revision": "1", "row": {}}"#, "invalid type"),
            (r#"[1, 2]"#, "invalid type"),
        ] {
            let error = serde_json::from_str::<InventoryEntry>(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
