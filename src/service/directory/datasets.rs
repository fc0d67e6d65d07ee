//! Datasets: per-realm collections users hold dataset roles on.

use entity::dataset;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, Order, QueryFilter, Set};

use super::{Dataset, Directory, Realms};
use crate::service::audit::{self, NewEvent, Resource};
use crate::service::page::{self, KeyPart, Keyset, Page, PageArgs};
use crate::service::{Error, Principal, Result, Scope};
use crate::time::{from_micros, to_micros};

fn to_dataset(realms: &Realms, m: dataset::Model) -> Dataset {
    Dataset {
        realm: realms.realm(m.realm_id),
        id: m.id,
        name: m.name,
        created_at: from_micros(m.created_at),
    }
}

/// Datasets the caller may see, optionally in one realm, by id.
#[derive(Debug, Clone)]
pub struct DatasetQuery {
    condition: Condition,
}

impl Directory {
    fn dataset_scope(
        &self,
        actor: &Principal,
        realms: &Realms,
        realm: Option<&str>,
    ) -> Result<DatasetQuery> {
        actor.require(Scope::UsersRead)?;
        let condition = match realm {
            Some(name) => {
                actor.require_realm(name)?;
                let realm = realms.resolve(name, "realm")?;
                Condition::all().add(dataset::Column::RealmId.eq(realm.id))
            }
            None => match realms.visible_ids(&actor.realms) {
                None => Condition::all(),
                Some(ids) => Condition::all().add(dataset::Column::RealmId.is_in(ids)),
            },
        };
        Ok(DatasetQuery { condition })
    }

    pub async fn datasets(
        &self,
        actor: &Principal,
        realm: Option<&str>,
        args: &PageArgs,
    ) -> Result<(Page<Dataset>, DatasetQuery)> {
        let realms = self.realms.get(self.db.conn()).await?;
        let query = self.dataset_scope(actor, &realms, realm)?;
        let keyset: Keyset<dataset::Entity> = Keyset {
            name: "datasets",
            columns: vec![dataset::Column::Id],
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
        Ok((page.map(|m| to_dataset(&realms, m)), query))
    }

    pub async fn count_datasets(&self, query: &DatasetQuery) -> Result<i64> {
        page::count(
            self.db.conn(),
            dataset::Entity::find().filter(query.condition.clone()),
        )
        .await
    }

    pub async fn dataset_by_id(&self, actor: &Principal, id: i32) -> Result<Option<Dataset>> {
        actor.require(Scope::UsersRead)?;
        let Some(row) = dataset::Entity::find_by_id(id).one(self.db.conn()).await? else {
            return Ok(None);
        };
        let realms = self.realms.get(self.db.conn()).await?;
        let dataset = to_dataset(&realms, row);
        // A dataset outside the caller's reach is as absent as a missing one.
        Ok(actor.sees(&dataset.realm.name).then_some(dataset))
    }

    pub async fn create_dataset(
        &self,
        actor: &Principal,
        realm: &str,
        name: &str,
    ) -> Result<Dataset> {
        actor.require(Scope::UsersWrite)?.require_realm(realm)?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::bad_input(
                "name",
                "a dataset name has 1 to 200 characters",
            ));
        }
        let now = self.clock.now();
        let name = &name;
        self.db
            .write(|tx| async move {
                let tx = &*tx;
                let realms = Realms::load(tx).await?;
                let realm = realms.resolve(realm, "realm")?;
                let taken = || {
                    Error::conflict(
                        "name",
                        format!(
                            "realm '{}' already has a dataset named '{name}'",
                            realm.name
                        ),
                    )
                };
                let exists = dataset::Entity::find()
                    .filter(dataset::Column::RealmId.eq(realm.id))
                    .filter(dataset::Column::Name.eq(name))
                    .one(tx)
                    .await?
                    .is_some();
                if exists {
                    return Err(taken());
                }
                // Two requests may both find the name free: the unique index
                // decides, and the second one learns the same as if it had
                // come later.
                let row = dataset::ActiveModel {
                    realm_id: Set(realm.id),
                    name: Set(name.clone()),
                    created_at: Set(to_micros(now)),
                    ..Default::default()
                }
                .insert(tx)
                .await
                .map_err(|e| Error::unique_or(e, taken))?;
                audit::record(
                    tx,
                    actor,
                    now,
                    NewEvent {
                        event: "dataset.created",
                        realm: Some(&realm.name),
                        resources: vec![Resource::new("dataset", name, row.id)],
                    },
                )
                .await?;
                Ok(to_dataset(&realms, row))
            })
            .await
    }
}
