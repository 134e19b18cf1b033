//! How much of a collector's inventory one run looks at. Decided once, before
//! the run (see `pipeline::scope`), carried to the change engine, and kept in
//! the run's record (`CollectorRun.Scope`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything is collected and compared.
    Full,
    /// Files collectors: files whose stat is what the last run saw are
    /// withheld and kept as stored; everything else is compared.
    Incremental,
    /// After file events: only these paths and what lies under them are
    /// looked at; the rest of the inventory stands as stored.
    Targeted(Vec<String>),
}

impl Scope {
    /// The name runs are recorded and listed with.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Incremental => "incremental",
            Scope::Targeted(_) => "targeted",
        }
    }

    /// A targeted run's paths; none otherwise.
    pub fn paths(&self) -> &[String] {
        match self {
            Scope::Targeted(paths) => paths,
            Scope::Full | Scope::Incremental => &[],
        }
    }

    pub fn is_full(&self) -> bool {
        matches!(self, Scope::Full)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
