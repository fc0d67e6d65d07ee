//! DataLoaders: batch the lookups many nodes of one page make.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use super::error::ApiError;
use crate::service::directory::User;
use crate::service::{Principal, Services};

/// Current users by id, for the caller (deleted users are absent).
pub struct UserLoader {
    services: Services,
    actor: Principal,
}

impl Loader<i32> for UserLoader {
    type Value = User;
    type Error = ApiError;

    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, User>, ApiError> {
        Ok(self
            .services
            .directory
            .live_users(&self.actor, keys)
            .await?)
    }
}

/// The per-request loaders.
pub fn for_request(services: &Services, actor: &Principal) -> DataLoader<UserLoader> {
    DataLoader::new(
        UserLoader {
            services: services.clone(),
            actor: actor.clone(),
        },
        tokio::spawn,
    )
}
