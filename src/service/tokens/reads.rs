//! Reading tokens: the `tokens` list, a user's tokens, one by id.

use entity::token;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

use super::writes::to_token;
use super::{NO_REALM, Token, Tokens, realm_key, sees_key};
use crate::service::directory::{Realms, normalize_realm};
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs};
use crate::service::{Principal, Result, Scope};

/// A resolved token list: which rows, without paging (for `totalCount`).
#[derive(Debug, Clone)]
pub struct TokenMatch {
    condition: Condition,
}

/// Only the rows of realms the caller may see (tokens without a realm only
/// for a caller bound to no realm).
fn visible(realms: &Realms, actor: &Principal) -> Condition {
    match realms.visible_ids(&actor.realms) {
        None => Condition::all(),
        Some(ids) => Condition::all().add(token::Column::RealmId.is_in(ids)),
    }
}

impl Tokens {
    /// Tokens the caller may see, optionally of one realm (`/:no realm:/`
    /// for those without one) and with one serial, by id.
    pub async fn tokens(
        &self,
        actor: &Principal,
        realm: Option<&str>,
        serial: Option<&str>,
        args: &PageArgs,
    ) -> Result<(Page<Token>, TokenMatch)> {
        actor.require(Scope::TokensRead)?;
        page::validate(args)?;
        let realms = self.realms.get(self.db.conn()).await?;
        let mut condition = visible(&realms, actor);
        if let Some(name) = realm {
            actor.require_realm(name)?;
            condition = condition.add(if normalize_realm(name) == NO_REALM {
                token::Column::RealmId.is_null()
            } else {
                token::Column::RealmId.eq(realms.resolve(name, "realm")?.id)
            });
        }
        if let Some(serial) = serial {
            condition = condition.add(token::Column::Serial.eq(serial.trim()));
        }
        self.token_page(&realms, TokenMatch { condition }, args)
            .await
    }

    /// The tokens assigned to a user (one the caller has already seen).
    pub async fn user_tokens(
        &self,
        actor: &Principal,
        user_id: i32,
        args: &PageArgs,
    ) -> Result<(Page<Token>, TokenMatch)> {
        actor.require(Scope::TokensRead)?;
        page::validate(args)?;
        let realms = self.realms.get(self.db.conn()).await?;
        let condition = visible(&realms, actor).add(token::Column::UserId.eq(user_id));
        self.token_page(&realms, TokenMatch { condition }, args)
            .await
    }

    async fn token_page(
        &self,
        realms: &Realms,
        query: TokenMatch,
        args: &PageArgs,
    ) -> Result<(Page<Token>, TokenMatch)> {
        let keyset: Keyset<token::Entity> = Keyset {
            name: "tokens",
            columns: vec![token::Column::Id],
            order: Order::Asc,
        };
        let page = page::paginate(
            self.db.conn(),
            query.condition.clone(),
            &keyset,
            args,
            &page::Models,
            |m| vec![KeyPart::Int(m.id.into())],
        )
        .await?;
        Ok((page.map(|m| to_token(realms, m)), query))
    }

    pub async fn count_tokens(&self, query: &TokenMatch) -> Result<i64> {
        page::count(
            self.db.conn(),
            token::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    /// A token by id; one outside the caller's reach is as absent as a
    /// missing one.
    pub async fn token_by_id(&self, actor: &Principal, id: i32) -> Result<Option<Token>> {
        actor.require(Scope::TokensRead)?;
        let Some(row) = token::Entity::find_by_id(id).one(self.db.conn()).await? else {
            return Ok(None);
        };
        let realms = self.realms.get(self.db.conn()).await?;
        if !sees_key(actor, &realm_key(&realms, row.realm_id)) {
            return Ok(None);
        }
        Ok(Some(to_token(&realms, row)))
    }
}
