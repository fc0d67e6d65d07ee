//! Summary counts on any date: users by status and enablement, and holders of
//! every app role, as of the end of the day in the requested zone.

use chrono::NaiveDate;

use super::History;
use crate::service::directory::UserStatus;
use crate::service::tz::{day_start, parse_zone, today};
use crate::service::user_counts::{self, role_key, status_key};
use crate::service::{Error, Principal, Result, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub date: NaiveDate,
    pub realm: Option<String>,
    pub active: i64,
    pub dormant: i64,
    pub suspended: i64,
    /// Every app role of the catalog, in catalog order, zeros included.
    pub app_roles: Vec<(String, i64)>,
}

impl UserSummary {
    pub fn total(&self) -> i64 {
        self.active + self.dormant + self.suspended
    }
    pub fn enabled(&self) -> i64 {
        self.active + self.dormant
    }
    pub fn disabled(&self) -> i64 {
        self.suspended
    }
}

impl History {
    /// Counts as of the end of `date` (default today) in `zone` (default UTC);
    /// for today, as of now.
    pub async fn summary(
        &self,
        actor: &Principal,
        date: Option<NaiveDate>,
        zone: Option<&str>,
        realm: Option<&str>,
    ) -> Result<UserSummary> {
        actor.require(Scope::UsersRead)?;
        let zone = parse_zone(zone, "timeZone")?;
        let now = self.clock.now();
        let today = today(zone, now);
        let date = date.unwrap_or(today);
        if date > today {
            return Err(Error::bad_input(
                "date",
                format!("{date} is in the future (today is {today} in {zone})"),
            ));
        }
        let end_of_day = date
            .succ_opt()
            .map(|next| day_start(zone, next) - chrono::Duration::microseconds(1))
            .unwrap_or(now);
        let at = end_of_day.min(now);

        let db = self.db.conn();
        let realms = self.realms.get(db).await?;
        let (realm_name, realm_ids) = match realm {
            Some(name) => {
                actor.require_realm(name)?;
                let realm = realms.resolve(name, "realm")?;
                (Some(realm.name.clone()), Some(vec![realm.id]))
            }
            None => (None, realms.visible_ids(&actor.realms)),
        };
        // The rollup and the day's changes from one snapshot: a change that
        // commits between the two reads would otherwise count twice or not
        // at all.
        let realm_ids = realm_ids.as_deref();
        let counts = self
            .db
            .read(|tx| async move { user_counts::counts_at(&*tx, realm_ids, at).await })
            .await?;
        let count = |key: String| counts.get(&key).copied().unwrap_or(0);
        Ok(UserSummary {
            date,
            realm: realm_name,
            active: count(status_key(UserStatus::Active)),
            dormant: count(status_key(UserStatus::Dormant)),
            suspended: count(status_key(UserStatus::Suspended)),
            app_roles: self
                .catalog
                .app_roles()
                .map(|r| (r.name.clone(), count(role_key(&r.name))))
                .collect(),
        })
    }
}
