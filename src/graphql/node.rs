//! The Node interface: any object by its global id.

use async_graphql::{Context, ID, Interface, Object};

use super::access::ApiToken;
use super::activity::AuditEvent;
use super::error::{ApiError, ApiResult};
use super::history::UserChange;
use super::ids::GlobalId;
use super::product_events::ProductEvent;
use super::realms::{Dataset, Realm};
use super::reports::ReportJob;
use super::requests::ApiRequest;
use super::tokens::{Token, TokenCounter};
use super::users::User;
use super::{actor, services};

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Realm(Realm),
    User(User),
    Dataset(Dataset),
    ApiToken(ApiToken),
    UserChange(UserChange),
    AuditEvent(AuditEvent),
    ApiRequest(ApiRequest),
    ReportJob(ReportJob),
    Token(Token),
    TokenCounter(TokenCounter),
    ProductEvent(ProductEvent),
}

async fn load(ctx: &Context<'_>, id: &str, field: &str) -> ApiResult<Option<Node>> {
    let (services, actor) = (services(ctx), actor(ctx));
    Ok(match GlobalId::decode(id, field)? {
        GlobalId::Realm(id) => services
            .directory
            .realm_by_id(actor, id)
            .await?
            .map(|r| Node::Realm(Realm(r))),
        GlobalId::User(id) => services
            .directory
            .user_any(actor, id)
            .await?
            .map(|u| Node::User(User(u))),
        GlobalId::Dataset(id) => services
            .directory
            .dataset_by_id(actor, id)
            .await?
            .map(|d| Node::Dataset(Dataset(d))),
        GlobalId::ApiToken(id) => services
            .api_tokens
            .get(actor, id)
            .await?
            .map(|t| Node::ApiToken(ApiToken(t))),
        GlobalId::UserChange(id) => services
            .history
            .change(actor, id)
            .await?
            .map(|c| Node::UserChange(UserChange(c))),
        GlobalId::AuditEvent(id) => services
            .audit_events
            .get(actor, id)
            .await?
            .map(|e| Node::AuditEvent(AuditEvent(e))),
        GlobalId::ApiRequest(id) => services
            .api_requests
            .get(actor, id)
            .await?
            .map(|r| Node::ApiRequest(ApiRequest(r))),
        GlobalId::ReportJob(id) => services
            .reports
            .get(actor, id)
            .await?
            .map(|j| Node::ReportJob(ReportJob(j))),
        GlobalId::Token(id) => services
            .tokens
            .token_by_id(actor, id)
            .await?
            .map(|t| Node::Token(Token(t))),
        GlobalId::TokenCounter(id) => services
            .tokens
            .counter_by_id(actor, id)
            .await?
            .map(|c| Node::TokenCounter(TokenCounter(c))),
        GlobalId::ProductEvent(id) => services
            .product_events
            .get(actor, id)
            .await?
            .map(|e| Node::ProductEvent(ProductEvent(e))),
    })
}

/// Most ids one `nodes` call may ask for.
const MAX_NODE_IDS: usize = 100;

/// Query complexity of `nodes`: one node's cost per id asked for.
fn nodes_cost(ids: usize, child: usize) -> usize {
    ids.max(1).saturating_mul(child).saturating_add(1)
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        load(ctx, &id, "id").await
    }

    #[graphql(complexity = "nodes_cost(ids.len(), child_complexity)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODE_IDS {
            return Err(ApiError::bad_input(
                "ids",
                format!("ids holds {} ids; at most {MAX_NODE_IDS}", ids.len()),
            ));
        }
        let mut nodes = Vec::with_capacity(ids.len());
        for id in &ids {
            nodes.push(load(ctx, id, "ids").await?);
        }
        Ok(nodes)
    }
}
