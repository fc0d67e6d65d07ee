//! Direct looks at the database: what was stored, and "nothing changed".

use super::*;

impl TestServer {
    /// Row counts of every table this issue writes, and the number of
    /// (user, app role) and (user, dataset role) pairs held, decoded from the
    /// users rows (as "user_roles" and "user_dataset_roles").
    pub async fn counts(&self) -> BTreeMap<&'static str, u64> {
        let c = self.conn();
        let (user_roles, dataset_roles) = self.held_roles().await;
        let mut counts = BTreeMap::new();
        counts.insert("realms", realm::Entity::find().count(c).await.unwrap());
        counts.insert("datasets", dataset::Entity::find().count(c).await.unwrap());
        counts.insert("users", user::Entity::find().count(c).await.unwrap());
        counts.insert("user_roles", user_roles.len() as u64);
        counts.insert("user_dataset_roles", dataset_roles.len() as u64);
        counts.insert(
            "user_changes",
            user_change::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "audit_events",
            audit_event::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "api_tokens",
            api_token::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "product_events",
            product_event::Entity::find().count(c).await.unwrap(),
        );
        counts.insert(
            "activity",
            entity::activity::Entity::find().count(c).await.unwrap(),
        );
        counts
    }

    /// Everything this issue stores, in a comparable form (api token use
    /// times left out: they are updated in the background on every request).
    pub async fn snapshot(&self) -> DbSnapshot {
        let c = self.conn();
        let (user_roles, dataset_roles) = self.held_roles().await;
        DbSnapshot {
            counts: self.counts().await,
            realms: realm::Entity::find()
                .order_by_asc(realm::Column::Id)
                .all(c)
                .await
                .unwrap(),
            datasets: dataset::Entity::find()
                .order_by_asc(dataset::Column::Id)
                .all(c)
                .await
                .unwrap(),
            users: user::Entity::find()
                .order_by_asc(user::Column::Id)
                .all(c)
                .await
                .unwrap(),
            user_roles,
            dataset_roles,
            api_tokens: api_token::Entity::find()
                .order_by_asc(api_token::Column::Id)
                .all(c)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.id, t.name, t.scopes, t.realms, t.expires_at, t.revoked_at))
                .collect(),
        }
    }

    /// The roles every user holds (deleted users included), decoded from the
    /// `roles` and `datasets` JSON of the users rows: (user id, app role)
    /// and (user id, dataset id, dataset role) pairs, sorted. Panics when a
    /// row holds anything but the stored encodings.
    pub async fn held_roles(&self) -> (Vec<(i32, String)>, Vec<(i32, i32, String)>) {
        let users = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .all(self.conn())
            .await
            .unwrap();
        let mut user_roles = Vec::new();
        let mut dataset_roles = Vec::new();
        for u in users {
            let roles: Vec<String> = serde_json::from_str(&u.roles)
                .unwrap_or_else(|e| panic!("user {}: roles {:?}: {e}", u.id, u.roles));
            user_roles.extend(roles.into_iter().map(|role| (u.id, role)));
            let grants: Vec<(i32, String, String)> = serde_json::from_str(&u.datasets)
                .unwrap_or_else(|e| panic!("user {}: datasets {:?}: {e}", u.id, u.datasets));
            dataset_roles.extend(
                grants
                    .into_iter()
                    .map(|(dataset_id, _, role)| (u.id, dataset_id, role)),
            );
        }
        user_roles.sort();
        dataset_roles.sort();
        (user_roles, dataset_roles)
    }

    /// Every audit event, oldest first.
    pub async fn audit_events(&self) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// Audit events with id greater than `after_id`, oldest first.
    pub async fn audit_events_since(&self, after_id: i64) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(after_id))
            .order_by_asc(audit_event::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// The highest audit event id so far (0 when none).
    pub async fn last_audit_id(&self) -> i64 {
        self.audit_events().await.last().map_or(0, |e| e.id)
    }

    /// Every stored API token row.
    pub async fn api_token_rows(&self) -> Vec<api_token::Model> {
        api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }

    /// One user's history rows, by id.
    pub async fn user_change_rows(&self, user_id: i64) -> Vec<user_change::Model> {
        user_change::Entity::find()
            .filter(user_change::Column::UserId.eq(user_id as i32))
            .order_by_asc(user_change::Column::Id)
            .all(self.conn())
            .await
            .unwrap()
    }
}

/// Everything stored, for "nothing changed" checks.
#[derive(Debug, PartialEq)]
pub struct DbSnapshot {
    pub counts: BTreeMap<&'static str, u64>,
    pub realms: Vec<realm::Model>,
    pub datasets: Vec<dataset::Model>,
    /// Their `roles` and `datasets` JSON included.
    pub users: Vec<user::Model>,
    /// (user id, app role), decoded from the users rows.
    pub user_roles: Vec<(i32, String)>,
    /// (user id, dataset id, dataset role), decoded from the users rows.
    pub dataset_roles: Vec<(i32, i32, String)>,
    #[allow(clippy::type_complexity)]
    pub api_tokens: Vec<(
        i32,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
    )>,
}

/// Asserts that nothing stored changed between two snapshots.
pub fn assert_unchanged(before: &DbSnapshot, after: &DbSnapshot, what: &str) {
    assert_eq!(before.counts, after.counts, "{what}: row counts changed");
    assert_eq!(before, after, "{what}: stored data changed");
}

/// Waits (up to 10 s: failed sign-ins are written every 2 s) until the one
/// `auth.failed` event after `after_id` counts `attempts`, and returns it.
pub async fn failed_sign_ins(t: &TestServer, after_id: i64, attempts: u64) -> audit_event::Model {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<_> = t
            .audit_events_since(after_id)
            .await
            .into_iter()
            .filter(|e| e.event == "auth.failed")
            .collect();
        let counted = |e: &audit_event::Model| -> Option<u64> {
            let resources: Value = serde_json::from_str(&e.resources).ok()?;
            resources
                .as_array()?
                .iter()
                .find(|r| r["type"] == "attempts")?["name"]
                .as_str()?
                .parse()
                .ok()
        };
        if let [event] = events.as_slice()
            && counted(event) == Some(attempts)
        {
            return event.clone();
        }
        assert!(
            Instant::now() < deadline,
            "expected one auth.failed event counting {attempts} attempts, got {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
