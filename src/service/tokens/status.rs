//! Token statuses: one spelling each (LinOTP wrote `assigned&active` and
//! queried `active&assigned`), and how each is counted from a tally.

use std::fmt;
use std::str::FromStr;

use entity::token_tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenStatus {
    Total,
    Active,
    Inactive,
    Assigned,
    Unassigned,
    ActiveAssigned,
    ActiveUnassigned,
    InactiveAssigned,
    InactiveUnassigned,
    /// Distinct users holding at least one active, assigned token.
    TotalUsers,
}

impl TokenStatus {
    pub const ALL: [TokenStatus; 10] = [
        TokenStatus::Total,
        TokenStatus::Active,
        TokenStatus::Inactive,
        TokenStatus::Assigned,
        TokenStatus::Unassigned,
        TokenStatus::ActiveAssigned,
        TokenStatus::ActiveUnassigned,
        TokenStatus::InactiveAssigned,
        TokenStatus::InactiveUnassigned,
        TokenStatus::TotalUsers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Total => "TOTAL",
            TokenStatus::Active => "ACTIVE",
            TokenStatus::Inactive => "INACTIVE",
            TokenStatus::Assigned => "ASSIGNED",
            TokenStatus::Unassigned => "UNASSIGNED",
            TokenStatus::ActiveAssigned => "ACTIVE_ASSIGNED",
            TokenStatus::ActiveUnassigned => "ACTIVE_UNASSIGNED",
            TokenStatus::InactiveAssigned => "INACTIVE_ASSIGNED",
            TokenStatus::InactiveUnassigned => "INACTIVE_UNASSIGNED",
            TokenStatus::TotalUsers => "TOTAL_USERS",
        }
    }

    /// This status's count in a realm's live tally.
    pub fn count(self, t: &token_tally::Model) -> i64 {
        let (aa, au, ia, iu) = (
            t.active_assigned,
            t.active_unassigned,
            t.inactive_assigned,
            t.inactive_unassigned,
        );
        match self {
            TokenStatus::Total => aa + au + ia + iu,
            TokenStatus::Active => aa + au,
            TokenStatus::Inactive => ia + iu,
            TokenStatus::Assigned => aa + ia,
            TokenStatus::Unassigned => au + iu,
            TokenStatus::ActiveAssigned => aa,
            TokenStatus::ActiveUnassigned => au,
            TokenStatus::InactiveAssigned => ia,
            TokenStatus::InactiveUnassigned => iu,
            TokenStatus::TotalUsers => t.users,
        }
    }

    /// Stored form of a set of statuses: comma-separated names, in enum order.
    pub fn encode(statuses: &[TokenStatus]) -> String {
        let mut sorted = statuses.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn decode(stored: &str) -> Vec<TokenStatus> {
        stored.split(',').filter_map(|s| s.parse().ok()).collect()
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown token status '{s}'"))
    }
}

/// Counts of one realm per status; None where nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmCounts {
    pub realm: String,
    pub counts: Vec<(TokenStatus, Option<i64>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_sum_the_four_cells() {
        for status in TokenStatus::ALL {
            assert_eq!(status.as_str().parse::<TokenStatus>(), Ok(status));
        }
        let stored = TokenStatus::encode(&[TokenStatus::TotalUsers, TokenStatus::Total]);
        assert_eq!(stored, "TOTAL,TOTAL_USERS");
        assert_eq!(
            TokenStatus::decode(&stored),
            vec![TokenStatus::Total, TokenStatus::TotalUsers]
        );
        let tally = token_tally::Model {
            realm: "r".to_owned(),
            active_assigned: 1,
            active_unassigned: 2,
            inactive_assigned: 4,
            inactive_unassigned: 8,
            users: 1,
        };
        let counts: Vec<i64> = TokenStatus::ALL.iter().map(|s| s.count(&tally)).collect();
        assert_eq!(counts, vec![15, 3, 12, 5, 10, 1, 2, 4, 8, 1]);
    }
}
