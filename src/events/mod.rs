//! Live events: what committed transactions wrote, for subscriptions
//! (docs/SUBSCRIPTIONS.md).
//!
//! Writers note what they write with [`written`] inside [`Db::write`]; the
//! notes of a transaction are published only after it commits (a rolled-back
//! or retried attempt publishes nothing), on this process's [`Bus`]. Other
//! replicas learn of them through the database: on PostgreSQL the
//! transaction also sends them with `pg_notify`, which PostgreSQL delivers
//! at commit ([`listen`]); on MariaDB each replica tails the tables by id
//! ([`tail`]); SQLite has one process.
//!
//! Notices of new rows carry ids only: a subscriber reads the row it is told
//! about, with its own token, so it sees exactly what a query would show it.
//! A report job's notice also carries the state the transaction left it in
//! ([`JobState`]): a job changes in place, and reading it back would skip the
//! states it passed through in between.
//!
//! [`Db::write`]: crate::db::Db::write

mod listen;
mod tail;

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DbBackend;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::db::Db;
use crate::service::reports::JobState;

/// Something a committed transaction wrote that a subscriber may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A new audit event.
    AuditEvent(i64),
    /// A new entry of a user's history.
    UserChange(i64),
    /// A report job's status or progress changed, to this.
    ReportJob(i64, JobState),
}

impl Change {
    /// `a12`, `u7`, `j3:STARTED.1.…` ([`JobState::encode`]): the form
    /// notifications carry.
    fn encode(self) -> String {
        match self {
            Change::AuditEvent(id) => format!("a{id}"),
            Change::UserChange(id) => format!("u{id}"),
            Change::ReportJob(id, state) => format!("j{id}:{}", state.encode()),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_at_checked(1)?;
        match kind {
            "a" => Some(Change::AuditEvent(rest.parse().ok()?)),
            "u" => Some(Change::UserChange(rest.parse().ok()?)),
            "j" => {
                let (id, state) = rest.split_once(':')?;
                Some(Change::ReportJob(
                    id.parse().ok()?,
                    JobState::decode(state)?,
                ))
            }
            _ => None,
        }
    }
}

tokio::task_local! {
    static WRITTEN: RefCell<Vec<Change>>;
}

/// Notes that the running transaction wrote `change`; it is published once
/// the transaction commits. Outside [`crate::db::Db::write`] (the seeder's
/// batches) nothing is noted: use [`crate::db::Db::announce`] after an
/// autocommitted write instead.
pub fn written(change: Change) {
    let _ = WRITTEN.try_with(|w| w.borrow_mut().push(change));
}

/// Runs `work`, collecting what it notes with [`written`].
pub(crate) async fn collecting<F: Future>(work: F) -> (F::Output, Vec<Change>) {
    WRITTEN
        .scope(RefCell::new(Vec::new()), async move {
            let out = work.await;
            (out, WRITTEN.with(|w| w.take()))
        })
        .await
}

/// Notices one subscriber may fall behind by before it skips the oldest.
const CAPACITY: usize = 1024;
/// New-row ids remembered to deliver each once (MariaDB's tail sees rows
/// this process already published).
const REMEMBERED: usize = 8192;
/// The PostgreSQL channel notifications travel on.
pub(crate) const CHANNEL: &str = "headcount_changes";
/// Under PostgreSQL's 8000-byte payload limit.
const MAX_PAYLOAD: usize = 7900;

/// One process's notices: a broadcast channel that never blocks a writer (a
/// subscriber that falls [`CAPACITY`] notices behind skips the oldest).
pub struct Bus {
    sender: broadcast::Sender<Change>,
    /// Marks this process's notifications, to skip them when they come back.
    origin: String,
    delivered: Mutex<Delivered>,
    /// This process tails the tables (MariaDB): it must remember what it
    /// published, subscribers or not, not to deliver it again.
    tailing: AtomicBool,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("origin", &self.origin).finish()
    }
}

#[derive(Default)]
struct Delivered {
    ids: HashSet<Change>,
    order: VecDeque<Change>,
}

impl Default for Bus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            origin: format!("{:016x}", rand::random::<u64>()),
            delivered: Mutex::default(),
            tailing: AtomicBool::new(false),
        }
    }
}

impl Bus {
    /// Every notice published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }

    /// Delivers committed changes to this process's subscribers.
    pub(crate) fn publish(&self, changes: &[Change]) {
        if self.sender.receiver_count() == 0 && !self.tailing.load(Ordering::Relaxed) {
            return;
        }
        for change in changes {
            self.deliver(*change);
        }
    }

    /// Sends `change` unless a new row's notice was sent already.
    fn deliver(&self, change: Change) {
        if !matches!(change, Change::ReportJob(..)) {
            let mut delivered = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
            if !delivered.ids.insert(change) {
                return;
            }
            delivered.order.push_back(change);
            if delivered.order.len() > REMEMBERED
                && let Some(old) = delivered.order.pop_front()
            {
                delivered.ids.remove(&old);
            }
        }
        // Fails only when nobody listens.
        let _ = self.sender.send(change);
    }

    /// The `pg_notify` payloads that tell other replicas of `changes`:
    /// `<origin> a12,u7,...`, split to stay under PostgreSQL's limit.
    pub(crate) fn payloads(&self, changes: &[Change]) -> Vec<String> {
        let mut payloads = Vec::new();
        let mut current = String::new();
        for change in changes {
            let item = change.encode();
            if !current.is_empty() && current.len() + item.len() + 1 > MAX_PAYLOAD {
                payloads.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                current.push_str(&self.origin);
                current.push(' ');
            } else {
                current.push(',');
            }
            current.push_str(&item);
        }
        if !current.is_empty() {
            payloads.push(current);
        }
        payloads
    }

    /// Delivers what another replica's notification says (own ones were
    /// delivered at their commit).
    fn receive(&self, payload: &str) {
        let Some((origin, items)) = payload.split_once(' ') else {
            return;
        };
        if origin == self.origin || self.sender.receiver_count() == 0 {
            return;
        }
        for change in items.split(',').filter_map(Change::decode) {
            self.deliver(change);
        }
    }
}

/// Starts receiving other replicas' changes: LISTEN on PostgreSQL, tailing
/// the tables on MariaDB; nothing on SQLite (one process).
pub fn start(db: &Db) -> Option<JoinHandle<()>> {
    match db.backend() {
        DbBackend::Postgres => Some(tokio::spawn(listen::run(db.clone()))),
        DbBackend::MySql => Some(tokio::spawn(tail::run(db.clone()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64) -> Change {
        let state = JobState::decode("STARTED.1.1733356800000000.3fe0000000000000.500").unwrap();
        Change::ReportJob(id, state)
    }

    #[test]
    fn changes_round_trip_through_their_encoding() {
        for change in [Change::AuditEvent(12), Change::UserChange(i64::MAX), job(1)] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("x1"), None);
        assert_eq!(Change::decode("a"), None);
        assert_eq!(Change::decode(""), None);
    }

    #[test]
    fn payloads_stay_under_the_limit() {
        let bus = Bus::default();
        let changes: Vec<Change> = (0..5000).map(|i| Change::AuditEvent(1 << 40 | i)).collect();
        let payloads = bus.payloads(&changes);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            let (origin, items) = payload.split_once(' ').unwrap();
            assert_eq!(origin, bus.origin);
            seen.extend(items.split(',').filter_map(Change::decode));
        }
        assert_eq!(seen, changes);
    }

    #[test]
    fn a_new_row_is_delivered_once_and_own_notifications_are_skipped() {
        let bus = Bus::default();
        let mut rx = bus.subscribe();
        bus.publish(&[Change::AuditEvent(1), job(2)]);
        bus.publish(&[Change::AuditEvent(1), job(2)]);
        bus.receive(&bus.payloads(&[Change::UserChange(3)])[0]);
        bus.receive("elsewhere u4,a1");
        let got: Vec<Change> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            [Change::AuditEvent(1), job(2), job(2), Change::UserChange(4)]
        );
    }
}
