//! API tokens and the caller's own view of itself.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::error::{ApiError, ApiResult};
use super::ids::GlobalId;
use super::scalars::Timestamp;
use super::{actor, services};
use crate::service::api_tokens::{self as domain, NewApiToken as NewToken};

/// What an API token may do. ADMIN implies every other scope.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::Scope")]
pub enum Scope {
    Admin,
    UsersRead,
    UsersWrite,
    ChangelogRead,
    AuditRead,
    /// Read audit events of every realm the token may see at once (allPermittedRealms).
    AuditReadAllRealms,
    InsightsRead,
    ActivityWrite,
    ReportsCreate,
    TokensRead,
    TokensWrite,
    CountersShow,
    CountersPeriod,
    CountersMaximum,
    CountersDeleteAll,
    CountersDeleteBefore,
    ApiTokensManage,
    /// Register product events (registerEvents).
    EventsWrite,
    /// Read product events (events).
    EventsRead,
}

fn realm_names(realms: &crate::service::RealmAccess) -> Option<Vec<String>> {
    realms.names().map(|names| names.iter().cloned().collect())
}

#[derive(SimpleObject)]
pub struct Viewer {
    token_id: ID,
    name: String,
    scopes: Vec<Scope>,
    /// Realms this token is bound to; null means every realm.
    realms: Option<Vec<String>>,
}

#[derive(Clone)]
pub struct ApiToken(pub domain::ApiToken);

#[Object]
impl ApiToken {
    pub async fn id(&self) -> ID {
        GlobalId::ApiToken(self.0.id).encode()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn scopes(&self) -> Vec<Scope> {
        self.0.scopes.iter().map(Into::into).collect()
    }
    async fn realms(&self) -> Option<Vec<String>> {
        realm_names(&self.0.realms)
    }
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
    async fn last_used_at(&self) -> Option<Timestamp> {
        self.0.last_used_at.map(Timestamp)
    }
    async fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at.map(Timestamp)
    }
    async fn revoked_at(&self) -> Option<Timestamp> {
        self.0.revoked_at.map(Timestamp)
    }
}

#[derive(SimpleObject)]
pub struct NewApiToken {
    /// The secret, shown once; only a hash of it is stored.
    secret: String,
    token: ApiToken,
}

#[derive(InputObject)]
pub struct CreateApiTokenInput {
    name: String,
    scopes: Vec<Scope>,
    realms: Option<Vec<String>>,
    expires_at: Option<Timestamp>,
}

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// The token making this request.
    async fn viewer(&self, ctx: &Context<'_>) -> Viewer {
        let me = actor(ctx);
        Viewer {
            token_id: me
                .token_id
                .map(|id| GlobalId::ApiToken(id).encode())
                .unwrap_or_else(|| ID("system".to_owned())),
            name: me.name.clone(),
            scopes: me.scopes.iter().map(Into::into).collect(),
            realms: realm_names(&me.realms),
        }
    }

    async fn api_tokens(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiToken>> {
        let tokens = services(ctx).api_tokens.list(actor(ctx)).await?;
        Ok(tokens.into_iter().map(ApiToken).collect())
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> ApiResult<NewApiToken> {
        let new = NewToken {
            name: input.name,
            scopes: input.scopes.into_iter().map(Into::into).collect(),
            realms: input.realms,
            expires_at: input.expires_at.map(|t| t.0),
        };
        let (token, secret) = services(ctx).api_tokens.create(actor(ctx), new).await?;
        Ok(NewApiToken {
            secret,
            token: ApiToken(token),
        })
    }

    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ApiToken> {
        let GlobalId::ApiToken(token_id) = GlobalId::decode(&id, "id")? else {
            return Err(ApiError::bad_input(
                "id",
                format!("'{}' is not an API token id", id.0),
            ));
        };
        let token = services(ctx)
            .api_tokens
            .revoke(actor(ctx), token_id)
            .await?;
        Ok(ApiToken(token))
    }
}
