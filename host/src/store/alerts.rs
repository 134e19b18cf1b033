//! Alert bookkeeping: how far each rule has looked into the history, the
//! alerts raised, and the delivery of each of their actions.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// An alert about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub rule: &'a str,
    pub severity: &'a str,
    pub time: &'a str,
    pub first_change: i64,
    pub last_change: i64,
    pub rows: usize,
    /// The JSON document the actions send.
    pub document: &'a str,
    /// One delivery per action: its index in the rule and its description.
    pub actions: Vec<(usize, String)>,
}

/// A delivery still to be made (or retried).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub delivery_id: i64,
    pub alert_id: i64,
    pub rule: String,
    pub action_index: usize,
    pub action: String,
    pub attempts: u32,
    pub document: String,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered; more attempts to come.
    Pending,
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A raised alert and its deliveries, for listing.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub alert_id: i64,
    pub rule: String,
    pub severity: String,
    pub time: String,
    pub rows: i64,
    pub first_change: i64,
    pub last_change: i64,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub action: String,
    pub state: String,
    pub attempts: i64,
    pub last_attempt: Option<String>,
    pub delivered_at: Option<String>,
    pub error: Option<String>,
}

impl Store {
    /// The newest change's id; 0 when there is none.
    pub fn last_change_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT IFNULL(MAX(ChangeId), 0) FROM ConfigurationChange", [], |row| {
                row.get(0)
            })
            .map_err(|e| self.error(e))
    }

    /// For each rule seen before: the last change it has looked at.
    pub fn alert_marks(&self) -> Result<HashMap<String, i64>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT Rule, LastChangeId FROM AlertState")
            .map_err(|e| self.error(e))?;
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.error(e))
    }

    /// Moves `rule`'s mark from `from` (`None`: a rule not seen before) to
    /// `to`, recording `alert` and its pending deliveries with it, in one
    /// transaction. Returns `false`, changing nothing, when the mark is no
    /// longer at `from` (another process evaluated the rule meanwhile).
    pub fn advance_alert_mark(
        &mut self,
        rule: &str,
        from: Option<i64>,
        to: i64,
        alert: Option<&NewAlert<'_>>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let current: Option<i64> = tx
                .query_row("SELECT LastChangeId FROM AlertState WHERE Rule = ?1", [rule], |row| row.get(0))
                .optional()?;
            if current != from {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO AlertState (Rule, LastChangeId) VALUES (?1, ?2) \
                 ON CONFLICT (Rule) DO UPDATE SET LastChangeId = excluded.LastChangeId",
                params![rule, to],
            )?;
            if let Some(alert) = alert {
                tx.execute(
                    "INSERT INTO Alert (Rule, Severity, TimeGenerated, FirstChangeId, LastChangeId, RowCount, Document) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        alert.rule,
                        alert.severity,
                        alert.time,
                        alert.first_change,
                        alert.last_change,
                        alert.rows as i64,
                        alert.document
                    ],
                )?;
                let alert_id = tx.last_insert_rowid();
                for (index, action) in &alert.actions {
                    tx.execute(
                        "INSERT INTO AlertDelivery (AlertId, ActionIndex, Action, State) VALUES (?1, ?2, ?3, 'pending')",
                        params![alert_id, *index as i64, action],
                    )?;
                }
            }
            Ok(true)
        })
    }

    /// Deliveries not yet made, oldest first.
    pub fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT d.DeliveryId, d.AlertId, a.Rule, d.ActionIndex, d.Action, d.Attempts, a.Document \
                 FROM AlertDelivery d JOIN Alert a ON a.AlertId = d.AlertId \
                 WHERE d.State = 'pending' ORDER BY d.DeliveryId",
            )
            .map_err(|e| self.error(e))?;
        statement
            .query_map([], |row| {
                Ok(PendingDelivery {
                    delivery_id: row.get(0)?,
                    alert_id: row.get(1)?,
                    rule: row.get(2)?,
                    action_index: row.get::<_, i64>(3)? as usize,
                    action: row.get(4)?,
                    attempts: row.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                    document: row.get(6)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.error(e))
    }

    /// Takes a pending delivery for `until` (stored time text); `false` when
    /// another deliverer holds it or it is no longer pending.
    pub fn claim_delivery(&mut self, delivery_id: i64, now: &str, until: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE AlertDelivery SET ClaimedUntil = ?3 WHERE DeliveryId = ?1 AND State = 'pending' \
                 AND (ClaimedUntil IS NULL OR ClaimedUntil < ?2)",
                params![delivery_id, now, until],
            )
            .map(|n| n == 1)
        })
    }

    /// Lets go of a claimed delivery, for another deliverer to continue.
    pub fn release_delivery(&mut self, delivery_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE AlertDelivery SET ClaimedUntil = NULL WHERE DeliveryId = ?1",
                [delivery_id],
            )
            .map(drop)
        })
    }

    /// Records an attempt at a delivery: the attempts made so far, when, and
    /// the state it leaves the delivery in.
    pub fn record_delivery_attempt(
        &mut self,
        delivery_id: i64,
        attempts: u32,
        time: &str,
        state: DeliveryState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let delivered_at = (state == DeliveryState::Delivered).then_some(time);
        self.write(|tx| {
            tx.execute(
                "UPDATE AlertDelivery SET Attempts = ?2, LastAttempt = ?3, State = ?4, Error = ?5, \
                 DeliveredAt = IFNULL(?6, DeliveredAt) WHERE DeliveryId = ?1",
                params![delivery_id, attempts, time, state.as_str(), error, delivered_at],
            )
            .map(drop)
        })
    }

    /// The newest `limit` alerts, newest first, with their deliveries.
    pub fn alerts(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let err = |e| self.error(e);
        let mut statement = self
            .conn
            .prepare(
                "SELECT AlertId, Rule, Severity, TimeGenerated, RowCount, FirstChangeId, LastChangeId \
                 FROM Alert ORDER BY AlertId DESC LIMIT ?1",
            )
            .map_err(err)?;
        let mut alerts: Vec<AlertRecord> = statement
            .query_map([limit as i64], |row| {
                Ok(AlertRecord {
                    alert_id: row.get(0)?,
                    rule: row.get(1)?,
                    severity: row.get(2)?,
                    time: row.get(3)?,
                    rows: row.get(4)?,
                    first_change: row.get(5)?,
                    last_change: row.get(6)?,
                    deliveries: Vec::new(),
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(err)?;
        let mut deliveries = self
            .conn
            .prepare(
                "SELECT Action, State, Attempts, LastAttempt, DeliveredAt, Error FROM AlertDelivery \
                 WHERE AlertId = ?1 ORDER BY ActionIndex",
            )
            .map_err(err)?;
        for alert in &mut alerts {
            alert.deliveries = deliveries
                .query_map([alert.alert_id], |row| {
                    Ok(DeliveryRecord {
                        action: row.get(0)?,
                        state: row.get(1)?,
                        attempts: row.get(2)?,
                        last_attempt: row.get(3)?,
                        delivered_at: row.get(4)?,
                        error: row.get(5)?,
                    })
                })
                .and_then(|rows| rows.collect())
                .map_err(err)?;
        }
        Ok(alerts)
    }
}
