//! What a `userSummary` counts, read from a response.

use super::*;

/// A summary's counts: users by status and each app role's holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryCounts {
    pub enabled: i64,
    pub disabled: i64,
    pub active: i64,
    pub dormant: i64,
    pub suspended: i64,
    pub total: i64,
    pub roles: BTreeMap<String, i64>,
}

impl SummaryCounts {
    /// Nobody counted: every app role of the catalog at 0.
    pub fn zero() -> Self {
        Self {
            enabled: 0,
            disabled: 0,
            active: 0,
            dormant: 0,
            suspended: 0,
            total: 0,
            roles: APP_ROLES.iter().map(|r| (r.to_string(), 0)).collect(),
        }
    }
}

/// Reads `{ users { enabled disabled active dormant suspended total }
/// appRoles { role count } }`; every app role of the catalog must be listed,
/// once.
pub fn parse_summary(summary: &Value) -> Result<SummaryCounts, String> {
    let users = &summary["users"];
    let n = |field: &str| -> Result<i64, String> {
        users[field]
            .as_i64()
            .ok_or_else(|| format!("users.{field} missing in {summary}"))
    };
    let mut roles = BTreeMap::new();
    for entry in summary["appRoles"]
        .as_array()
        .ok_or_else(|| format!("appRoles missing in {summary}"))?
    {
        let role = entry["role"].as_str().unwrap_or("?").to_owned();
        let count = entry["count"].as_i64().unwrap_or(-1);
        if roles.insert(role.clone(), count).is_some() {
            return Err(format!("appRoles lists {role} twice: {summary}"));
        }
    }
    if !roles.keys().eq(APP_ROLES.iter()) {
        return Err(format!(
            "appRoles lists every app role of the catalog, and only those: {summary}"
        ));
    }
    Ok(SummaryCounts {
        enabled: n("enabled")?,
        disabled: n("disabled")?,
        active: n("active")?,
        dormant: n("dormant")?,
        suspended: n("suspended")?,
        total: n("total")?,
        roles,
    })
}
