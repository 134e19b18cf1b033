//! The `jsonl` output: one JSON object per line, appended to a file that is
//! rotated by size (`records.jsonl` → `records.jsonl.1` → …), for the log
//! shippers that tail files (Filebeat, Vector, Fluent Bit).
//!
//! Exactly once across a crash: the file's length after each write is
//! stored with the output's position. Lines past that length were written
//! but never recorded as sent — the agent stopped between the two — and
//! are cut off before the next write, which sends them again. A rotation
//! is recorded (length 0) before anything is written to the new file.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::AtomicBool;

use super::{Deliver, Sent, SinkError, record};
use crate::manifest::outputs::JsonlSettings;
use crate::store::{OutputMark, OutputRecord};

pub struct JsonlFile {
    settings: JsonlSettings,
}

impl JsonlFile {
    pub fn new(settings: JsonlSettings) -> JsonlFile {
        JsonlFile { settings }
    }

    /// The file, open at its end, with anything past `committed` cut off:
    /// lines written but not recorded as sent (they are written again).
    fn open(&self, committed: u64) -> Result<(File, u64), SinkError> {
        let path = &self.settings.path;
        let created = !path.exists();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(format!("cannot create {}", dir.display()), e))?;
        }
        // Not append mode: on Windows a handle opened to append cannot truncate.
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| SinkError::io(format!("cannot open {}", path.display()), e))?;
        if created {
            sync_dir(path)?;
        }
        let mut length = file
            .metadata()
            .map_err(|e| SinkError::io(format!("cannot stat {}", path.display()), e))?
            .len();
        if length > committed {
            tracing::info!(
                "{}: cutting {} bytes written but not recorded as sent (they are written again)",
                path.display(),
                length - committed
            );
            file.set_len(committed)
                .map_err(|e| SinkError::io(format!("cannot truncate {}", path.display()), e))?;
            length = committed;
        }
        // Shorter than recorded: rotated or truncated by someone else.
        file.seek(SeekFrom::End(0))
            .map_err(|e| SinkError::io(format!("cannot seek in {}", path.display()), e))?;
        Ok((file, length))
    }

    /// `path.N` → `path.N+1` for the files kept, then `path` → `path.1`.
    fn rotate(&self) -> Result<(), SinkError> {
        let path = &self.settings.path;
        let numbered = |n: u32| {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            std::path::PathBuf::from(name)
        };
        if self.settings.keep == 0 {
            return std::fs::remove_file(path)
                .map_err(|e| SinkError::io(format!("cannot remove {}", path.display()), e));
        }
        let _ = std::fs::remove_file(numbered(self.settings.keep));
        for n in (1..self.settings.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))
                    .map_err(|e| SinkError::io(format!("cannot rotate {}", from.display()), e))?;
            }
        }
        std::fs::rename(path, numbered(1))
            .map_err(|e| SinkError::io(format!("cannot rotate {}", path.display()), e))?;
        sync_dir(path)
    }
}

/// Makes a file's creation or renaming in its folder durable before the
/// position that counts on it is stored (Unix; Windows' renames need no more).
fn sync_dir(path: &std::path::Path) -> Result<(), SinkError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| SinkError::io(format!("cannot sync {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Deliver for JsonlFile {
    /// What the file holds before this output writes to it is kept.
    fn start(&mut self) -> Result<u64, SinkError> {
        self.open(u64::MAX).map(|(_, length)| length)
    }

    fn send(&mut self, mark: &OutputMark, records: &[OutputRecord], _stop: &AtomicBool) -> Sent {
        let (mut file, length) = match self.open(mark.offset) {
            Ok(opened) => opened,
            Err(error) => return Sent::failed(error),
        };
        // The lines that fit under the size limit (one at least, into an empty file).
        let mut text = Vec::new();
        let mut last = None;
        for record in records {
            let line = serde_json::Value::Object(record::json(record)).to_string();
            let grown = length + text.len() as u64 + line.len() as u64 + 1;
            if grown > self.settings.max_size && (length > 0 || last.is_some()) {
                break;
            }
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            last = Some(record.after);
        }
        let Some(position) = last else {
            // Full: rotate, and record the empty file before writing to it.
            drop(file);
            return match self.rotate() {
                Ok(()) => Sent::all(OutputMark {
                    position: mark.position,
                    offset: 0,
                }),
                Err(error) => Sent::failed(error),
            };
        };
        let path = &self.settings.path;
        let written = file.write_all(&text).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Nothing is recorded: what was written is cut off next time.
            return Sent::failed(SinkError::io(format!("cannot write {}", path.display()), error));
        }
        Sent::all(OutputMark {
            position,
            offset: length + text.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use driftwatch_protocol::Position;
    use serde_json::Value as Json;

    use super::*;
    use crate::store::RecordTable;

    fn records(ids: std::ops::RangeInclusive<i64>) -> Vec<OutputRecord> {
        ids.map(|id| OutputRecord {
            table: RecordTable::ConfigurationChange,
            columns: [
                ("ChangeId".to_string(), Json::from(id)),
                ("SoftwareName".into(), Json::from("x".repeat(40))),
            ]
            .into_iter()
            .collect(),
            after: Position {
                change_id: id,
                revision: 0,
            },
        })
        .collect()
    }

    fn ids(path: &std::path::Path) -> Vec<i64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str::<Json>(line).unwrap()["ChangeId"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_tail_not_recorded_as_sent_is_cut_and_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/records.jsonl");
        let mut output = JsonlFile::new(JsonlSettings {
            path: path.clone(),
            max_size: 1 << 20,
            keep: 2,
        });
        let stop = AtomicBool::new(false);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"ChangeId\":0}\n").unwrap();
        // What the file held before the output started is kept.
        let start = OutputMark {
            offset: output.start().unwrap(),
            ..OutputMark::default()
        };
        assert_eq!(start.offset, 15);
        let first = output.send(&start, &records(1..=3), &stop).reached.unwrap();
        assert_eq!(first.position.change_id, 3);
        assert_eq!(ids(&path), [0, 1, 2, 3]);
        assert_eq!(first.offset, std::fs::metadata(&path).unwrap().len());
        // Records 4..=5 written, then the agent dies before recording them.
        output.send(&first, &records(4..=5), &stop).reached.unwrap();
        assert_eq!(ids(&path), [0, 1, 2, 3, 4, 5]);
        // After the restart, the store still says `first`: 4 and 5 go again, once.
        let again = output.send(&first, &records(4..=6), &stop).reached.unwrap();
        assert_eq!(ids(&path), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(again.offset, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_first_batch_not_recorded_as_sent_is_cut_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let mut output = JsonlFile::new(JsonlSettings {
            path: path.clone(),
            max_size: 1 << 20,
            keep: 2,
        });
        let stop = AtomicBool::new(false);
        let start = OutputMark {
            offset: output.start().unwrap(),
            ..OutputMark::default()
        };
        assert_eq!(start.offset, 0);
        // Written, then the agent dies before recording it: the store still
        // says `start`, and the batch goes again, once.
        output.send(&start, &records(1..=3), &stop).reached.unwrap();
        output.send(&start, &records(1..=4), &stop).reached.unwrap();
        assert_eq!(ids(&path), [1, 2, 3, 4]);
    }

    #[test]
    fn rotation_keeps_every_line_once_and_the_files_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let mut output = JsonlFile::new(JsonlSettings {
            path: path.clone(),
            max_size: 4096,
            keep: 2,
        });
        let stop = AtomicBool::new(false);
        let all = records(1..=120);
        let mut mark = OutputMark::default();
        let mut rotations = 0;
        while mark.position.change_id < 120 {
            let rest: Vec<_> = all
                .iter()
                .filter(|r| r.after.change_id > mark.position.change_id)
                .cloned()
                .collect();
            let reached = output.send(&mark, &rest, &stop).reached.unwrap();
            if reached.offset == 0 {
                rotations += 1;
            }
            mark = reached;
        }
        assert!(rotations >= 2, "{rotations} rotations");
        for file in [
            path.clone(),
            dir.path().join("records.jsonl.1"),
            dir.path().join("records.jsonl.2"),
        ] {
            assert!(std::fs::metadata(&file).unwrap().len() <= 4096, "{}", file.display());
        }
        assert!(!dir.path().join("records.jsonl.3").exists());
        // The newest lines, in order, with nothing twice across the files kept.
        let mut kept = ids(&dir.path().join("records.jsonl.2"));
        kept.extend(ids(&dir.path().join("records.jsonl.1")));
        kept.extend(ids(&path));
        let expected: Vec<i64> = (kept[0]..=120).collect();
        assert_eq!(kept, expected);
    }
}
