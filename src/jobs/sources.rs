//! Where a report's rows come from: the GraphQL query that lists the same
//! rows, paged through its connection as the requester. A report's JSON is
//! therefore exactly what that query's nodes look like, realm rules and all;
//! a new kind is one entry here (its connection field, arguments and node
//! fields).

use crate::service::reports::ReportKind;

/// A selected node field: its name (a report column) and, for lists of
/// objects, the sub-selection.
pub type Field = (&'static str, Option<&'static str>);

const DATASET_ROLE: Option<&str> = Some("datasetId datasetName role");

/// The query behind one kind of report.
pub struct Source {
    /// The connection field, e.g. `userChangelog`.
    pub field: &'static str,
    /// The field's arguments besides paging: (name, GraphQL type).
    pub arguments: &'static [(&'static str, &'static str)],
    pub fields: &'static [Field],
}

impl Source {
    pub fn of(kind: ReportKind) -> &'static Source {
        match kind {
            ReportKind::UserChangelog => &CHANGELOG,
            ReportKind::UserSnapshot => &SNAPSHOT,
            ReportKind::AuditEvents => &AUDIT_EVENTS,
            ReportKind::TokenCounters => &TOKEN_COUNTERS,
            ReportKind::ApiRequests => &API_REQUESTS,
        }
    }

    /// The report's columns: the node's field names.
    pub fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|(name, _)| *name)
    }

    /// One page of the connection: variables are the arguments plus
    /// `$first`, `$after` and `$count` (whether to select `totalCount`).
    pub fn document(&self) -> String {
        let declared: Vec<String> = self
            .arguments
            .iter()
            .map(|(name, ty)| format!("${name}: {ty}"))
            .chain([
                "$first: Int".to_owned(),
                "$after: String".to_owned(),
                "$count: Boolean!".to_owned(),
            ])
            .collect();
        let passed: Vec<String> = self
            .arguments
            .iter()
            .map(|(name, _)| format!("{name}: ${name}"))
            .chain(["first: $first".to_owned(), "after: $after".to_owned()])
            .collect();
        let selection: Vec<String> = self
            .fields
            .iter()
            .map(|(name, sub)| match sub {
                Some(sub) => format!("{name} {{ {sub} }}"),
                None => (*name).to_owned(),
            })
            .collect();
        format!(
            "query Report({}) {{ page: {}({}) {{ totalCount @include(if: $count) \
             edges {{ node {{ {} }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
            declared.join(", "),
            self.field,
            passed.join(", "),
            selection.join(" "),
        )
    }
}

static CHANGELOG: Source = Source {
    field: "userChangelog",
    arguments: &[
        ("startDate", "DateTime"),
        ("endDate", "DateTime"),
        ("filter", "UserFilter"),
        ("changeTypes", "[UserChangeType!]"),
    ],
    fields: &[
        ("id", None),
        ("date", None),
        ("userId", None),
        ("userEmail", None),
        ("realm", None),
        ("updatedBy", None),
        ("updaterEmail", None),
        ("previouslyEnabled", None),
        ("enabled", None),
        ("previousStatus", None),
        ("status", None),
        ("previousRoles", None),
        ("roles", None),
        ("previousDatasets", DATASET_ROLE),
        ("datasets", DATASET_ROLE),
        ("changesMade", None),
    ],
};

static SNAPSHOT: Source = Source {
    field: "userSnapshots",
    arguments: &[("date", "DateTime"), ("filter", "UserFilter")],
    fields: &[
        ("asOf", None),
        ("userId", None),
        ("email", None),
        ("name", None),
        ("realm", None),
        ("createdAt", None),
        ("status", None),
        ("enabled", None),
        ("roles", None),
        ("datasets", DATASET_ROLE),
    ],
};

static TOKEN_COUNTERS: Source = Source {
    field: "tokenCounters",
    arguments: &[
        ("realms", "[String!]"),
        ("status", "[TokenStatus!]"),
        ("since", "DateTime"),
    ],
    fields: &[
        ("id", None),
        ("date", None),
        ("event", None),
        ("realm", None),
        ("status", None),
        ("count", None),
    ],
};

static AUDIT_EVENTS: Source = Source {
    field: "auditEvents",
    arguments: &[
        ("startDate", "DateTime"),
        ("endDate", "DateTime"),
        ("realm", "String"),
        ("allPermittedRealms", "Boolean"),
    ],
    fields: &[
        ("id", None),
        ("date", None),
        ("realm", None),
        ("event", None),
        ("actorId", None),
        ("actor", None),
        ("ipAddress", None),
        ("resources", Some("type name id")),
    ],
};

static API_REQUESTS: Source = Source {
    field: "apiRequests",
    arguments: &[("startDate", "DateTime"), ("endDate", "DateTime")],
    fields: &[
        ("id", None),
        ("date", None),
        ("operation", None),
        ("outcome", None),
        ("errorCode", None),
        ("durationMs", None),
        ("tokenName", None),
        ("realm", None),
        ("ipAddress", None),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse() {
        for kind in ReportKind::ALL {
            let document = Source::of(kind).document();
            async_graphql::parser::parse_query(&document)
                .unwrap_or_else(|err| panic!("{document}: {err}"));
        }
    }
}
