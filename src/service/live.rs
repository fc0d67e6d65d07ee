//! Subscriptions: audit events, user changes and report jobs as they commit
//! (docs/SUBSCRIPTIONS.md).
//!
//! Scopes and realms are checked when a subscription starts, as for the
//! matching query; then every notice of a new row is read back with the
//! subscriber's token through the same lookup `node(id:)` uses, so an object
//! outside its realms is never pushed. A report job's notice carries its
//! state, which is pushed as it is ([`JobState`]).

use std::time::Duration;

use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::audit_events::{AuditEvent, AuditEvents};
use super::directory::normalize_realm;
use super::history::{History, UserChange};
use super::reports::{JobState, ReportJob, Reports};
use super::{Error, Principal, RealmAccess, Result, Scope};
use crate::db::Db;
use crate::events::Change;

/// How often a followed report job is read again without a notice: how a
/// subscriber follows a job another MariaDB replica runs, and a safety net
/// for a notice lost with PostgreSQL's listening connection.
const JOB_RECHECK: Duration = Duration::from_secs(1);

/// What a subscriber that fell behind is told: it skipped `n` notices.
fn lagged(n: u64, query: &str) -> Error {
    Error::Gone(format!(
        "this subscription fell behind and skipped {n} notices (its client read more slowly \
         than they arrived); {query} has what was missed"
    ))
}

/// Which realms a subscription follows.
#[derive(Clone)]
enum Realms {
    /// Every realm the token may see.
    Visible,
    One(String),
}

impl Realms {
    /// A named realm must be within the token's realms (FORBIDDEN otherwise,
    /// whether or not it exists).
    fn of(actor: &Principal, realm: Option<&str>) -> Result<Self> {
        match realm {
            Some(realm) => {
                actor.require_realm(realm)?;
                Ok(Realms::One(normalize_realm(realm)))
            }
            None => Ok(Realms::Visible),
        }
    }

    fn admits(&self, realm: Option<&str>) -> bool {
        match self {
            Realms::Visible => true,
            Realms::One(name) => realm == Some(name.as_str()),
        }
    }
}

#[derive(Clone)]
pub struct Live {
    db: Db,
    audit_events: AuditEvents,
    history: History,
    reports: Reports,
}

impl Live {
    pub fn new(db: Db, audit_events: AuditEvents, history: History, reports: Reports) -> Self {
        Self {
            db,
            audit_events,
            history,
            reports,
        }
    }

    /// Audit events as they commit, in `realm` or (None) in every realm the
    /// token may see; following more than one realm takes
    /// AUDIT_READ_ALL_REALMS, as `auditEvents(allPermittedRealms: true)` does.
    pub fn audit_events(
        &self,
        actor: &Principal,
        realm: Option<&str>,
    ) -> Result<impl Stream<Item = Result<AuditEvent>> + Send + use<>> {
        actor.require(Scope::AuditRead)?;
        let realms = Realms::of(actor, realm)?;
        let single = matches!(&actor.realms, RealmAccess::Only(names) if names.len() == 1);
        if matches!(realms, Realms::Visible) && !single {
            actor.require(Scope::AuditReadAllRealms)?;
        }
        let (events, actor) = (self.audit_events.clone(), actor.clone());
        let load = move |id| {
            let (events, actor, realms) = (events.clone(), actor.clone(), realms.clone());
            async move {
                let event = events.get(&actor, id).await?;
                Ok(event.filter(|e| realms.admits(e.realm.as_deref())))
            }
        };
        let pick = |change| match change {
            Change::AuditEvent(id) => Some(id),
            _ => None,
        };
        Ok(follow(
            self.db.events().subscribe(),
            pick,
            load,
            "auditEvents",
        ))
    }

    /// User changes as they commit, in `realm` or (None) in every realm the
    /// token may see.
    pub fn user_changes(
        &self,
        actor: &Principal,
        realm: Option<&str>,
    ) -> Result<impl Stream<Item = Result<UserChange>> + Send + use<>> {
        actor.require(Scope::ChangelogRead)?;
        let realms = Realms::of(actor, realm)?;
        let (history, actor) = (self.history.clone(), actor.clone());
        let load = move |id| {
            let (history, actor, realms) = (history.clone(), actor.clone(), realms.clone());
            async move {
                let change = history.change(&actor, id).await?;
                Ok(change.filter(|c| realms.admits(Some(&c.realm))))
            }
        };
        let pick = |change| match change {
            Change::UserChange(id) => Some(id),
            _ => None,
        };
        Ok(follow(
            self.db.events().subscribe(),
            pick,
            load,
            "userChangelog",
        ))
    }

    /// A report job: its state now, then each state it passes through (the
    /// state its notice carries: every one is pushed, however quickly they
    /// follow each other); the stream ends after the job finishes. A job the
    /// token may not see is NOT_FOUND, exactly like a missing one.
    pub async fn report_job(
        &self,
        actor: &Principal,
        id: i64,
    ) -> Result<impl Stream<Item = Result<ReportJob>> + Send + use<>> {
        self.reports.check_view(actor)?;
        // Subscribed before the first read: no change falls in between.
        let mut notices = self.db.events().subscribe();
        let job = self
            .reports
            .get(actor, id)
            .await?
            .ok_or_else(|| missing_job(id))?;
        let (reports, actor) = (self.reports.clone(), actor.clone());
        Ok(async_stream::stream! {
            let mut last = job.clone();
            yield Ok(job);
            if last.status.is_finished() {
                return;
            }
            let mut recheck = tokio::time::interval(JOB_RECHECK);
            recheck.tick().await;
            loop {
                let noticed = tokio::select! {
                    notice = notices.recv() => match notice {
                        Ok(Change::ReportJob(changed, state)) if changed == id => Some(state),
                        Ok(_) => continue,
                        // Missed notices: the job is read again.
                        Err(RecvError::Lagged(_)) => None,
                        Err(RecvError::Closed) => break,
                    },
                    _ = recheck.tick() => None,
                };
                // A waiting or running state is pushed as its notice says; a
                // finished job is read for what its end set (file, error).
                let next = match noticed {
                    Some(state) if !state.status.is_finished() => Ok(Some(state.applied_to(&last))),
                    _ => reports.get(&actor, id).await,
                };
                match next {
                    Ok(Some(job)) => {
                        // Already shown (a read may run ahead of notices).
                        if !JobState::of(&job).is_after(&JobState::of(&last)) {
                            continue;
                        }
                        last = job.clone();
                        yield Ok(job);
                        if last.status.is_finished() {
                            break;
                        }
                    }
                    Ok(None) => {
                        yield Err(missing_job(id));
                        break;
                    }
                    Err(err) => {
                        yield Err(err);
                        break;
                    }
                }
            }
        })
    }
}

/// The new rows of one kind: each notice `pick` takes is read back with
/// `load` (None: not for this subscriber), and what it finds is yielded.
fn follow<T, L, F>(
    mut notices: broadcast::Receiver<Change>,
    pick: fn(Change) -> Option<i64>,
    load: L,
    query: &'static str,
) -> impl Stream<Item = Result<T>> + Send + use<T, L, F>
where
    T: Send + 'static,
    L: Fn(i64) -> F + Send + 'static,
    F: Future<Output = Result<Option<T>>> + Send,
{
    async_stream::stream! {
        loop {
            match notices.recv().await {
                Ok(change) => {
                    let Some(id) = pick(change) else { continue };
                    match load(id).await {
                        Ok(Some(row)) => yield Ok(row),
                        Ok(None) => {}
                        Err(err) => yield Err(err),
                    }
                }
                Err(RecvError::Lagged(n)) => yield Err(lagged(n, query)),
                Err(RecvError::Closed) => break,
            }
        }
    }
}

fn missing_job(id: i64) -> Error {
    Error::not_found(format!("no report job with id {id}"))
}
