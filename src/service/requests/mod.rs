//! The API request log: every request this gateway served, written off the
//! request path ([`log`]), listed by keyset ([`ApiRequests::list`]) and
//! counted per outcome, operation, error code or token ([`stats`]) from an
//! hourly rollup kept exact with every write and prune ([`rollup`]).
//!
//! Reading it needs AUDIT_READ. A token bound to realms sees the requests
//! made with tokens of its realms only; a token bound to none sees them all.

mod log;
mod rollup;
pub mod stats;

use chrono::{DateTime, Utc};
use entity::api_request;
use futures::stream::BoxStream;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

pub use log::{PRUNE_BATCH, RequestLog, RequestLogConfig, RequestRecord};
pub use rollup::rebuild as rebuild_rollup;
pub use stats::{Group, Stat};

use super::filter::check_list;
use super::page::{self, KeyPart, Keyset, Page, PageArgs};
use super::range::{RangeArgs, TimeRange};
use super::{Principal, RealmAccess, Result, Scope};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::time::{from_micros, to_micros};

/// One request served.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub operation: String,
    pub success: bool,
    pub error_code: Option<String>,
    pub duration_ms: f64,
    pub token_name: Option<String>,
    pub realm: Option<String>,
    pub ip_address: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub range: RangeArgs,
    /// Some(true): successes only; Some(false): failures only.
    pub success: Option<bool>,
    pub operations: Option<Vec<String>>,
}

/// A resolved query, for `totalCount`.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    pub range: TimeRange,
    condition: Condition,
}

/// Oldest first, so that `last`/`before` walks back from the newest, page
/// by page, as the Cryptolens seed's `ending_before` loop does.
fn keyset() -> Keyset<api_request::Entity> {
    Keyset {
        name: "requests",
        columns: vec![api_request::Column::OccurredAt, api_request::Column::Id],
        order: Order::Asc,
    }
}

impl ApiRequest {
    /// The cursor a page after this request starts from.
    pub fn cursor(&self) -> String {
        page::cursor(
            &keyset(),
            vec![KeyPart::Int(to_micros(self.date)), KeyPart::Int(self.id)],
        )
    }
}

fn to_request(m: api_request::Model) -> ApiRequest {
    ApiRequest {
        id: m.id,
        date: from_micros(m.occurred_at),
        operation: m.operation,
        success: m.success,
        error_code: m.error_code,
        duration_ms: m.duration_micros as f64 / 1000.0,
        token_name: m.token_name,
        realm: m.realm,
        ip_address: m.ip_address,
    }
}

/// The requests `actor` may see: all, or those of its realms.
fn visible(actor: &Principal) -> Condition {
    match &actor.realms {
        RealmAccess::All => Condition::all(),
        RealmAccess::Only(names) => {
            Condition::all().add(api_request::Column::Realm.is_in(names.iter().cloned()))
        }
    }
}

fn in_range(range: &TimeRange) -> Condition {
    Condition::all()
        .add(api_request::Column::OccurredAt.gte(to_micros(range.start)))
        .add(api_request::Column::OccurredAt.lt(to_micros(range.end)))
}

#[derive(Clone)]
pub struct ApiRequests {
    db: Db,
    clock: SharedClock,
}

impl ApiRequests {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// One page of requests, oldest first.
    pub async fn list(
        &self,
        actor: &Principal,
        query: &RequestQuery,
        args: &PageArgs,
    ) -> Result<(Page<ApiRequest>, RequestMatch)> {
        actor.require(Scope::AuditRead)?;
        let range = query.range.resolve(self.clock.now())?;
        page::validate(args)?;
        let matched = self.matching(actor, query, range)?;
        let page = page::paginate(
            self.db.conn(),
            matched.condition.clone(),
            &keyset(),
            args,
            &page::Models,
            |m| vec![KeyPart::Int(m.occurred_at), KeyPart::Int(m.id)],
        )
        .await?;
        Ok((page.map(to_request), matched))
    }

    /// [`ApiRequests::list`] read through: the requests after the cursor
    /// `after`, at most `limit`, in one statement whose rows arrive while
    /// the database produces the rest (reports).
    pub async fn walk(
        &self,
        actor: &Principal,
        query: &RequestQuery,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(BoxStream<'static, Result<ApiRequest>>, RequestMatch)> {
        actor.require(Scope::AuditRead)?;
        let range = query.range.resolve(self.clock.now())?;
        let matched = self.matching(actor, query, range)?;
        let rows = page::walk_models(
            self.db.conn(),
            matched.condition.clone(),
            &keyset(),
            after,
            limit,
            to_request,
        )
        .await?;
        Ok((rows, matched))
    }

    /// The requests `actor` may see that `query` asks for, in `range`.
    fn matching(
        &self,
        actor: &Principal,
        query: &RequestQuery,
        range: TimeRange,
    ) -> Result<RequestMatch> {
        let mut condition = visible(actor).add(in_range(&range));
        if let Some(success) = query.success {
            condition = condition.add(api_request::Column::Success.eq(success));
        }
        if let Some(operations) = &query.operations {
            check_list(Some(operations), "operation")?;
            condition =
                condition.add(api_request::Column::Operation.is_in(operations.iter().cloned()));
        }
        Ok(RequestMatch { range, condition })
    }

    pub async fn count(&self, query: &RequestMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            api_request::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// One request by id (for global ids): absent when outside the caller's
    /// realms, exactly like a missing one.
    pub async fn get(&self, actor: &Principal, id: i64) -> Result<Option<ApiRequest>> {
        actor.require(Scope::AuditRead)?;
        let row = api_request::Entity::find_by_id(id)
            .filter(visible(actor))
            .one(self.db.conn())
            .await?;
        Ok(row.map(to_request))
    }
}
