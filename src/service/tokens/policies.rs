//! Reporting policies: which statuses a realm records, its own or the `*`
//! default; a realm with neither records nothing.

use entity::reporting_policy;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{DEFAULT_POLICY, NO_REALM, TokenStatus, Tokens};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::directory::{Realms, normalize_realm};
use crate::service::{Principal, Result, Scope};

/// The statuses recorded for `realm` (a realm name or `NO_REALM`).
pub async fn policy_of<C: ConnectionTrait>(db: &C, realm: &str) -> Result<Vec<TokenStatus>> {
    let rows = reporting_policy::Entity::find()
        .filter(reporting_policy::Column::Realm.is_in([realm, DEFAULT_POLICY]))
        .all(db)
        .await?;
    let own = rows.iter().find(|r| r.realm == realm);
    let default = rows.iter().find(|r| r.realm == DEFAULT_POLICY);
    Ok(own
        .or(default)
        .map(|r| TokenStatus::decode(&r.statuses))
        .unwrap_or_default())
}

impl Tokens {
    /// Checks a policy's realm: `*` and `NO_REALM` need a caller bound to no
    /// realm; any other must be one the caller may name, and exist.
    fn policy_realm(&self, actor: &Principal, realms: &Realms, realm: &str) -> Result<String> {
        let name = normalize_realm(realm);
        if name == DEFAULT_POLICY || name == NO_REALM {
            actor.require_all_realms("the default and no-realm reporting policies")?;
            return Ok(name);
        }
        actor.require_realm(&name)?;
        Ok(realms.resolve(&name, "realm")?.name.clone())
    }

    /// The statuses recorded for `realm` (its own policy, else the default).
    pub async fn reporting_policy(
        &self,
        actor: &Principal,
        realm: &str,
    ) -> Result<Vec<TokenStatus>> {
        actor.require(Scope::TokensRead)?;
        let realms = self.realms.get(self.db.conn()).await?;
        let realm = self.policy_realm(actor, &realms, realm)?;
        policy_of(self.db.conn(), &realm).await
    }

    /// Sets a realm's policy (`*`: the default); an empty list removes the
    /// realm's own policy, so the default applies again. Returns the
    /// statuses the realm records from now on. A change that changes nothing
    /// writes nothing.
    pub async fn set_reporting_policy(
        &self,
        actor: &Principal,
        realm: &str,
        statuses: &[TokenStatus],
    ) -> Result<Vec<TokenStatus>> {
        actor.require(Scope::TokensWrite)?;
        let realms = self.realms.get(self.db.conn()).await?;
        let realm = self.policy_realm(actor, &realms, realm)?;
        let realm = &realm;
        let wanted = (!statuses.is_empty()).then(|| TokenStatus::encode(statuses));
        let wanted = &wanted;
        let now = self.clock.now();
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let current = reporting_policy::Entity::find_by_id(realm.clone())
                    .one(tx)
                    .await?
                    .map(|r| r.statuses);
                if current == *wanted {
                    return policy_of(tx, realm).await;
                }
                match wanted {
                    Some(statuses) => {
                        reporting_policy::Entity::insert(reporting_policy::ActiveModel {
                            realm: Set(realm.clone()),
                            statuses: Set(statuses.clone()),
                        })
                        .on_conflict(
                            OnConflict::column(reporting_policy::Column::Realm)
                                .update_column(reporting_policy::Column::Statuses)
                                .to_owned(),
                        )
                        .exec_without_returning(tx)
                        .await?;
                    }
                    None => {
                        reporting_policy::Entity::delete_by_id(realm.clone())
                            .exec(tx)
                            .await?;
                    }
                }
                let audit_realm = (realm != DEFAULT_POLICY && realm != NO_REALM).then_some(realm);
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event: "token.reporting_policy_set",
                        realm: audit_realm.map(String::as_str),
                        resources: vec![Resource {
                            kind: "reporting_policy".to_owned(),
                            name: realm.clone(),
                            id: wanted.clone(),
                        }],
                    },
                )
                .await?;
                policy_of(tx, realm).await
            })
            .await
    }
}
