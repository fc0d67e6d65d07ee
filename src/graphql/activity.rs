//! The activity log as GraphQL: `auditEvents`, newest first, with the
//! resolved range echoed.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::{TotalCount, cost, page_args, ranged_connection};
use super::error::ApiResult;
use super::ids::GlobalId;
use super::inline::Inline;
use super::scalars::Timestamp;
use super::{actor, services};
use crate::service::audit_events::{self as domain, AuditQuery};
use crate::service::range::RangeArgs;

/// Something an event is about.
#[derive(SimpleObject, Clone)]
pub struct AuditResource {
    #[graphql(name = "type")]
    kind: String,
    name: String,
    id: Option<String>,
}

/// Something a person or token did: a change, a report request, a failed sign-in.
#[derive(Clone)]
pub struct AuditEvent(pub domain::AuditEvent);

#[Object]
impl AuditEvent {
    pub async fn id(&self) -> ID {
        GlobalId::AuditEvent(self.0.id).encode()
    }
    async fn date(&self) -> Timestamp {
        Timestamp(self.0.date)
    }
    async fn realm(&self) -> Option<&str> {
        self.0.realm.as_deref()
    }
    /// Dotted event name, e.g. user.created, user.roles_changed, report.requested, auth.failed.
    async fn event(&self) -> &str {
        &self.0.event
    }
    async fn actor_id(&self) -> Option<i32> {
        self.0.actor_id
    }
    /// "Name (email)" for a user, the token's name for an API token.
    async fn actor(&self) -> Option<&str> {
        self.0.actor.as_deref()
    }
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }
    async fn resources(&self) -> Vec<AuditResource> {
        self.0
            .resources
            .iter()
            .map(|r| AuditResource {
                kind: r.kind.clone(),
                name: r.name.clone(),
                id: r.id.clone(),
            })
            .collect()
    }
}

ranged_connection!(AuditEventConnection, AuditEventEdge, AuditEvent);

#[derive(Default)]
pub struct ActivityQuery;

#[Object]
impl ActivityQuery {
    /// window (e.g. 12h, 7d, 90 = seconds) cannot be combined with startDate/endDate.
    #[graphql(complexity = "cost(first, last, child_complexity, __field)")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        window: Option<String>,
        start_date: Option<Timestamp>,
        end_date: Option<Timestamp>,
        realm: Option<String>,
        #[graphql(default_with = "Some(false)")] all_permitted_realms: Option<bool>,
        event: Option<Vec<String>>,
        actor_id: Option<Vec<i32>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Inline<AuditEventConnection>> {
        let services = services(ctx).clone();
        let query = AuditQuery {
            range: RangeArgs {
                window,
                start: start_date.map(|d| d.0),
                end: end_date.map(|d| d.0),
            },
            realm,
            all_permitted_realms: all_permitted_realms.unwrap_or(false),
            events: event,
            actor_ids: actor_id,
        };
        let (page, matched) = services
            .audit_events
            .list(actor(ctx), &query, &page_args(first, after, last, before))
            .await?;
        let range = matched.range;
        Ok(Inline(AuditEventConnection {
            page: page.map(AuditEvent),
            total: TotalCount::new(move || {
                let (services, matched) = (services.clone(), matched.clone());
                async move { services.audit_events.count(&matched).await }
            }),
            range,
        }))
    }
}
