//! The Subscription root: changes as they commit, over graphql-transport-ws
//! on `/graphql/ws` (docs/SUBSCRIPTIONS.md).

use async_graphql::{Context, ID, Subscription};
use futures::{Stream, StreamExt};

use super::activity::AuditEvent;
use super::error::{ApiError, ApiResult};
use super::history::UserChange;
use super::ids::GlobalId;
use super::reports::ReportJob;
use super::{actor, services};
use crate::service::Error;

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Emits on every status or progress change until the job ends.
    async fn report_job_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = ApiResult<ReportJob>> + use<>, ApiError> {
        let (services, actor) = (services(ctx), actor(ctx));
        services.reports.check_view(actor)?;
        let GlobalId::ReportJob(id) = GlobalId::decode(&id, "id")? else {
            return Err(Error::not_found(format!("no report job with id {}", id.as_str())).into());
        };
        let jobs = services.live.report_job(actor, id).await?;
        Ok(jobs.map(|job| job.map(ReportJob).map_err(ApiError::from)))
    }

    /// Audit events as they are recorded, in `realm`, or in every realm the
    /// token may see (which takes AUDIT_READ_ALL_REALMS unless that is one).
    async fn audit_event_added(
        &self,
        ctx: &Context<'_>,
        realm: Option<String>,
    ) -> Result<impl Stream<Item = ApiResult<AuditEvent>> + use<>, ApiError> {
        let events = services(ctx)
            .live
            .audit_events(actor(ctx), realm.as_deref())?;
        Ok(events.map(|event| event.map(AuditEvent).map_err(ApiError::from)))
    }

    /// Changes to users as they are made, in `realm` or in every realm the
    /// token may see.
    async fn user_changed(
        &self,
        ctx: &Context<'_>,
        realm: Option<String>,
    ) -> Result<impl Stream<Item = ApiResult<UserChange>> + use<>, ApiError> {
        let changes = services(ctx)
            .live
            .user_changes(actor(ctx), realm.as_deref())?;
        Ok(changes.map(|change| change.map(UserChange).map_err(ApiError::from)))
    }
}
