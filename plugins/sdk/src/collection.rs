//! What `collect` returns: records handed to the host in batches, plus the
//! warnings and completeness the host asks for at the end.

use std::cell::RefCell;

use crate::{CollectError, CollectionSummary, Warning};

/// Records per batch. Small enough to keep each host call cheap, large enough
/// that the per-call cost vanishes.
const BATCH_SIZE: usize = 512;

/// Warnings beyond this are counted, not kept, so a broken source cannot make
/// the summary itself oversized.
const MAX_WARNINGS: usize = 1000;

/// The records a collector produced, read lazily: an iterator is only advanced
/// as the host asks for batches, so a collector can stream a large source.
pub struct Collection<T> {
    items: Box<dyn Iterator<Item = Result<T, CollectError>>>,
    done: bool,
}

impl<T: 'static> Collection<T> {
    pub fn from_vec(items: Vec<T>) -> Self {
        Self::new(items)
    }

    /// A lazily produced collection.
    pub fn new<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: 'static,
    {
        Self::from_results(items.into_iter().map(Ok))
    }

    /// A lazily produced collection whose reading can fail part way; the
    /// first error fails the whole collection.
    pub fn from_results<I>(items: I) -> Self
    where
        I: IntoIterator<Item = Result<T, CollectError>>,
        I::IntoIter: 'static,
    {
        Self {
            items: Box::new(items.into_iter()),
            done: false,
        }
    }

    /// The next batch, `None` once exhausted.
    pub(crate) fn next_batch(&mut self) -> Result<Option<Vec<T>>, CollectError> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        for item in self.items.by_ref() {
            match item {
                Ok(record) => batch.push(record),
                Err(error) => {
                    self.done = true;
                    return Err(error);
                }
            }
            if batch.len() == BATCH_SIZE {
                return Ok(Some(batch));
            }
        }
        self.done = true;
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }
}

impl<T: 'static> FromIterator<T> for Collection<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::from_vec(iter.into_iter().collect())
    }
}

/// The resource the host pulls batches from.
pub struct BatchStream<T> {
    collection: RefCell<Collection<T>>,
}

impl<T: 'static> BatchStream<T> {
    pub(crate) fn new(collection: Collection<T>) -> Self {
        Self {
            collection: RefCell::new(collection),
        }
    }

    pub(crate) fn next_batch(&self) -> Result<Option<Vec<T>>, CollectError> {
        self.collection.borrow_mut().next_batch()
    }
}

#[derive(Default)]
struct RunState {
    warnings: Vec<Warning>,
    dropped_warnings: usize,
    incomplete: Option<String>,
}

thread_local! {
    static RUN: RefCell<RunState> = RefCell::new(RunState::default());
}

/// Records a warning of this run about something skipped or partly read (a
/// broken stanza, an unreadable file): not a log line (that is `warn!`), a
/// part of the run's outcome. The run still succeeds; the host reports the warning
/// with the run's outcome and logs it.
pub fn run_warning(subject: impl Into<String>, message: impl Into<String>) {
    let (subject, message) = (subject.into(), message.into());
    RUN.with_borrow_mut(|run| {
        if run.warnings.len() < MAX_WARNINGS {
            run.warnings.push(Warning { subject, message });
        } else {
            run.dropped_warnings += 1;
        }
    });
}

/// Declares that part of the source could not be read, so the records are not
/// the whole inventory: the host will then not report missing items as removed.
pub fn incomplete(reason: impl Into<String>) {
    let reason = reason.into();
    RUN.with_borrow_mut(|run| {
        run.incomplete = Some(match run.incomplete.take() {
            Some(earlier) => format!("{earlier}; {reason}"),
            None => reason,
        })
    });
}

/// Starts a fresh run's bookkeeping (called before `collect`).
pub(crate) fn begin() {
    RUN.with_borrow_mut(|run| *run = RunState::default());
}

pub(crate) fn summary() -> CollectionSummary {
    RUN.with_borrow(|run| {
        let mut warnings = run.warnings.clone();
        if run.dropped_warnings > 0 {
            warnings.push(Warning {
                subject: "warnings".into(),
                message: format!("{} more warnings not kept", run.dropped_warnings),
            });
        }
        CollectionSummary {
            warnings,
            incomplete: run.incomplete.clone(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_item_once() {
        let mut c = Collection::new(0..(BATCH_SIZE * 2 + 3));
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        while let Some(batch) = c.next_batch().unwrap() {
            sizes.push(batch.len());
            seen.extend(batch);
        }
        assert_eq!(sizes, vec![BATCH_SIZE, BATCH_SIZE, 3]);
        assert_eq!(seen, (0..(BATCH_SIZE * 2 + 3)).collect::<Vec<_>>());
        assert!(c.next_batch().unwrap().is_none());
    }

    #[test]
    fn an_error_ends_the_collection() {
        let items = vec![Ok(1), Err(CollectError::Failed("disk gone".into())), Ok(3)];
        let mut c = Collection::from_results(items);
        assert!(matches!(c.next_batch(), Err(CollectError::Failed(m)) if m == "disk gone"));
        assert!(c.next_batch().unwrap().is_none());
    }

    #[test]
    fn summary_holds_warnings_and_incompleteness() {
        begin();
        run_warning("stanza 3", "no Package field");
        incomplete("one file unreadable");
        incomplete("another");
        let s = summary();
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.incomplete.as_deref(), Some("one file unreadable; another"));
        begin();
        assert!(summary().warnings.is_empty());
    }

    #[test]
    fn warnings_are_capped() {
        begin();
        for i in 0..(MAX_WARNINGS + 5) {
            run_warning(format!("item {i}"), "bad");
        }
        let s = summary();
        assert_eq!(s.warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(s.warnings.last().unwrap().message, "5 more warnings not kept");
    }
}
