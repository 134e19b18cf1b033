//! What the web console reads: each page's queries, read-only. The pages
//! stay fast at fleet size by reading through indexes made for them
//! (migration 9) and the hourly counts kept as changes arrive.

pub mod changes;
pub mod machines;
pub mod overview;
pub mod software;
pub mod timeline;

/// Rows a list page shows at once.
pub const PAGE_ROWS: i64 = 50;
