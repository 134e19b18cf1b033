//! Inventory revisions: each write to `ConfigurationData` takes the next
//! number of `InventoryClock` as its row id, and each removal, while the
//! machine ships to a fleet, the next number in `InventoryRemoval`. So
//! what changed in the inventory since revision N is the rows and removals
//! numbered above N, in order.

use std::cell::Cell;
use std::rc::Rc;

use rusqlite::Transaction;

/// The numbers a write transaction hands out, saved when it ends.
#[derive(Clone)]
pub(super) struct Clock {
    next: Rc<Cell<i64>>,
    /// Removals are kept only while the machine ships.
    pub shipping: bool,
}

impl Clock {
    /// Reads where the clock stands, inside the transaction that will use it.
    pub fn read(tx: &Transaction) -> rusqlite::Result<Clock> {
        let (last, shipping): (i64, bool) = tx.query_row(
            "SELECT MAX(IFNULL((SELECT Revision FROM InventoryClock), 0), \
                        IFNULL((SELECT MAX(rowid) FROM ConfigurationData), 0), \
                        IFNULL((SELECT MAX(Revision) FROM InventoryRemoval), 0)), \
                    EXISTS (SELECT 1 FROM ShipState)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(Clock {
            next: Rc::new(Cell::new(last + 1)),
            shipping,
        })
    }

    /// The number the next write takes (not used up until `take`).
    pub fn peek(&self) -> i64 {
        self.next.get()
    }

    pub fn take(&self) -> i64 {
        let revision = self.next.get();
        self.next.set(revision + 1);
        revision
    }

    /// Stores where the clock stands; part of the transaction.
    pub fn save(&self, tx: &Transaction) -> rusqlite::Result<()> {
        tx.prepare_cached("INSERT OR REPLACE INTO InventoryClock (Id, Revision) VALUES (1, ?1)")?
            .execute([self.next.get() - 1])?;
        Ok(())
    }

    /// Notes the removal of the row `rowid` (before it is deleted).
    pub fn note_removal(&self, tx: &Transaction, rowid: i64) -> rusqlite::Result<()> {
        if self.shipping {
            tx.prepare_cached(
                "INSERT INTO InventoryRemoval (Revision, Collector, ItemKey) \
                 SELECT ?1, Collector, ItemKey FROM ConfigurationData WHERE rowid = ?2",
            )?
            .execute([self.take(), rowid])?;
        }
        Ok(())
    }

    /// Notes the removal of every row of `collector` (before they are deleted).
    pub fn note_collector_removal(&self, tx: &Transaction, collector: &str) -> rusqlite::Result<()> {
        if self.shipping {
            let noted = tx.execute(
                "INSERT INTO InventoryRemoval (Revision, Collector, ItemKey) \
                 SELECT ?1 + ROW_NUMBER() OVER (ORDER BY rowid) - 1, Collector, ItemKey \
                 FROM ConfigurationData WHERE Collector = ?2",
                rusqlite::params![self.peek(), collector],
            )?;
            self.next.set(self.peek() + noted as i64);
        }
        Ok(())
    }
}
