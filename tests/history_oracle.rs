//! The correctness oracle of history: random sequences of directory
//! mutations at random past times (not in order, so a change is often dated
//! by the "never before the user's previous change" rule rather than by the
//! clock), then `userSnapshots` and `userSummary` at random instants, compared
//! with a naive in-memory replay of the same sequence.
//!
//! One server per backend. Each proptest case gets two fresh realms with two
//! datasets each and looks at those only: snapshots filtered by realm, or read
//! with a token bound to the case's realms (whose unfiltered `totalCount` comes
//! from the daily rollup); summaries per realm, and over both realms with that
//! token. PROPTEST_CASES overrides the number of cases (default 24).

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

backend_tests!(snapshots_and_summaries_match_a_naive_replay);

const STATUSES: [&str; 3] = ["ACTIVE", "DORMANT", "SUSPENDED"];
/// Zones with DST changes inside the window (New York on 9 March, Berlin on
/// 30 March, Chatham on 6 April), a half-hour offset and a 45-minute one. In
/// all of them local midnight exists every day.
const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Europe/Berlin",
];
const NAMES: [&str; 3] = ["Ada", "Bo", "Cy"];

/// The server's "now" while querying: after every operation's time.
const NOW: &str = "2025-04-08T12:00:00Z";
/// Operations happen in the WINDOW_DAYS days before NOW.
const WINDOW_DAYS: i64 = 32;
const WINDOW_US: i64 = WINDOW_DAYS * 86_400 * 1_000_000;
/// Users an operation can name (by index among the users created so far).
const USER_SLOTS: usize = 8;
const DEFAULT_CASES: u32 = 24;

/// Numbers each case run (shrinking runs included), for fresh realm names.
static RUNS: AtomicUsize = AtomicUsize::new(0);

// ───────────────────────── generated cases ─────────────────────────

/// When the server clock stands for an operation.
#[derive(Debug, Clone)]
enum When {
    /// Anywhere in the window: µs after its start.
    Anywhere(i64),
    /// This many seconds after the previous operation's clock (0: the same instant).
    Later(i64),
    /// This many seconds before the previous operation's clock.
    Earlier(i64),
    /// A local midnight of the case's zone (day `day` of the window), or 1 µs before it.
    Midnight { day: i64, just_before: bool },
}

#[derive(Debug, Clone)]
enum Action {
    Create {
        realm: usize,
        status: &'static str,
        roles: Vec<&'static str>,
        /// A role on each of the realm's two datasets, or none.
        datasets: [Option<&'static str>; 2],
    },
    SetStatus {
        user: usize,
        status: &'static str,
    },
    SetRoles {
        user: usize,
        roles: Vec<&'static str>,
    },
    AddRoles {
        user: usize,
        roles: Vec<&'static str>,
    },
    RemoveRoles {
        user: usize,
        roles: Vec<&'static str>,
    },
    /// `role: None` revokes; `foreign` names a dataset of the other realm (an error).
    SetDatasetRole {
        user: usize,
        dataset: usize,
        role: Option<&'static str>,
        foreign: bool,
    },
    /// updateUser: a name from NAMES, and a fresh email when `new_email`.
    Rename {
        user: usize,
        name: usize,
        new_email: bool,
    },
    Delete {
        user: usize,
    },
}

#[derive(Debug, Clone)]
struct Op {
    when: When,
    action: Action,
}

/// An instant to query at.
#[derive(Debug, Clone)]
enum Probe {
    Anywhere(i64),
    /// The time of one of the recorded changes, shifted by -1, 0 or +1 µs.
    AtChange {
        change: Index,
        offset_us: i64,
    },
    Midnight {
        day: i64,
        just_before: bool,
    },
    Now,
}

#[derive(Debug, Clone)]
struct Case {
    zone: &'static str,
    ops: Vec<Op>,
    probes: Vec<Probe>,
    /// Page size of the paged snapshot walks.
    page_size: i32,
}

fn app_roles() -> impl Strategy<Value = Vec<&'static str>> {
    subsequence(APP_ROLES.to_vec(), 0..=3)
}

fn dataset_role() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(select(DATASET_ROLES.to_vec()))
}

fn user() -> impl Strategy<Value = usize> {
    0..USER_SLOTS
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        3 => (0..WINDOW_US).prop_map(When::Anywhere),
        4 => (0i64..3 * 86_400).prop_map(When::Later),
        1 => Just(When::Later(0)),
        2 => (1i64..5 * 86_400).prop_map(When::Earlier),
        1 => (0..WINDOW_DAYS, any::<bool>())
            .prop_map(|(day, just_before)| When::Midnight { day, just_before }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..2usize, select(STATUSES.to_vec()), app_roles(), dataset_role(), dataset_role())
            .prop_map(|(realm, status, roles, d0, d1)| Action::Create {
                realm,
                status,
                roles,
                datasets: [d0, d1],
            }),
        2 => (user(), select(STATUSES.to_vec()))
            .prop_map(|(user, status)| Action::SetStatus { user, status }),
        1 => (user(), app_roles()).prop_map(|(user, roles)| Action::SetRoles { user, roles }),
        2 => (user(), app_roles()).prop_map(|(user, roles)| Action::AddRoles { user, roles }),
        1 => (user(), app_roles()).prop_map(|(user, roles)| Action::RemoveRoles { user, roles }),
        3 => (user(), 0..2usize, dataset_role(), proptest::bool::weighted(0.1)).prop_map(
            |(user, dataset, role, foreign)| Action::SetDatasetRole {
                user,
                dataset,
                role,
                foreign,
            }
        ),
        1 => (user(), 0..NAMES.len(), proptest::bool::weighted(0.3)).prop_map(
            |(user, name, new_email)| Action::Rename {
                user,
                name,
                new_email,
            }
        ),
        1 => user().prop_map(|user| Action::Delete { user }),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        3 => (0..WINDOW_US).prop_map(Probe::Anywhere),
        3 => (any::<Index>(), -1i64..=1)
            .prop_map(|(change, offset_us)| Probe::AtChange { change, offset_us }),
        1 => (0..WINDOW_DAYS, any::<bool>())
            .prop_map(|(day, just_before)| Probe::Midnight { day, just_before }),
        1 => Just(Probe::Now),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(ZONES.to_vec()),
        proptest::collection::vec(
            (when(), action()).prop_map(|(when, action)| Op { when, action }),
            10..=60,
        ),
        proptest::collection::vec(probe(), 5),
        1..=3i32,
    )
        .prop_map(|(zone, ops, probes, page_size)| Case {
            zone,
            ops,
            probes,
            page_size,
        })
}

// ───────────────────────── time ─────────────────────────

/// The calendar of one case: the window and its zone.
struct Calendar {
    zone: Tz,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Calendar {
    fn new(zone: &str) -> Self {
        let now = at(NOW);
        Calendar {
            zone: zone.parse().expect("a zone of the list"),
            start: now - Duration::days(WINDOW_DAYS),
            now,
        }
    }

    /// The instant local midnight starts `date` (it exists in every zone used).
    fn midnight(&self, date: NaiveDate) -> DateTime<Utc> {
        self.zone
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .expect("local midnight exists in the zones used")
            .with_timezone(&Utc)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.zone).date_naive()
    }

    /// Midnight of day `day` of the window, or 1 µs before it.
    fn window_midnight(&self, day: i64, just_before: bool) -> DateTime<Utc> {
        let date = self.local_date(self.start) + Duration::days(day);
        let t = self.midnight(date);
        if just_before {
            t - Duration::microseconds(1)
        } else {
            t
        }
    }

    /// The clock time of an operation, given the previous operation's.
    fn op_time(&self, when: &When, previous: DateTime<Utc>) -> DateTime<Utc> {
        let t = match *when {
            When::Anywhere(us) => self.start + Duration::microseconds(us),
            When::Later(s) => previous + Duration::seconds(s),
            When::Earlier(s) => previous - Duration::seconds(s),
            When::Midnight { day, just_before } => self.window_midnight(day, just_before),
        };
        t.clamp(self.start, self.now - Duration::seconds(1))
    }

    /// The instant a summary of local `date` counts at: the end of that day
    /// (1 µs before the next local midnight), or now for today.
    fn summary_instant(&self, date: NaiveDate) -> DateTime<Utc> {
        if date == self.local_date(self.now) {
            self.now
        } else {
            self.midnight(date + Duration::days(1)) - Duration::microseconds(1)
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// ───────────────────────── the model ─────────────────────────

/// What a user looks like after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    email: String,
    name: String,
    status: &'static str,
    roles: BTreeSet<&'static str>,
    /// dataset slot (0 or 1 of the user's realm) → role
    datasets: BTreeMap<usize, &'static str>,
}

#[derive(Debug)]
struct ModelUser {
    /// The server's userId.
    id: i64,
    slot: usize,
    realm: usize,
    created_at: DateTime<Utc>,
    /// Every change that changed something, in the order applied, dated as
    /// the server must date it; None: deleted.
    history: Vec<(DateTime<Utc>, Option<State>)>,
}

impl ModelUser {
    fn last(&self) -> &(DateTime<Utc>, Option<State>) {
        self.history.last().expect("a user has a creation entry")
    }

    fn current(&self) -> Option<&State> {
        self.last().1.as_ref()
    }

    /// The state at `t`: the latest change at or before `t`, replayed naively
    /// from the whole list; None before creation and from deletion on.
    fn at(&self, t: DateTime<Utc>) -> Option<&State> {
        let mut state = None;
        for (when, after) in &self.history {
            if *when <= t {
                state = Some(after.as_ref());
            }
        }
        state.flatten()
    }
}

/// One snapshot row, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    user_id: i64,
    email: String,
    name: String,
    realm: String,
    created_at: DateTime<Utc>,
    status: String,
    enabled: bool,
    roles: Vec<String>,
    /// (datasetId, datasetName, role)
    datasets: Vec<(i64, String, String)>,
    /// `user` (the current record) is not null.
    live: bool,
}

type Counts = SummaryCounts;

// ───────────────────────── one case ─────────────────────────

/// What a case created on the server.
struct Fixture {
    realms: [String; 2],
    /// Per realm, its two datasets: (datasetId, name).
    datasets: [[(i64, String); 2]; 2],
    /// A USERS_READ token bound to the case's two realms.
    reader: String,
}

struct Run<'a> {
    t: &'a TestServer,
    /// The harness's unbound ADMIN token.
    admin: &'a str,
    number: usize,
    cal: Calendar,
    fixture: Option<Fixture>,
    users: Vec<ModelUser>,
    log: Vec<String>,
}

const SNAPSHOTS: &str = "query($date: DateTime, $filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {
  userSnapshots(date: $date, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      asOf userId email name realm createdAt status enabled roles
      datasets { datasetId datasetName role }
      user { userId }
    } }
  }
}";

const SUMMARY: &str = "query($date: Date, $tz: String, $realm: String) {
  userSummary(date: $date, timeZone: $tz, realm: $realm) {
    date realm
    users { enabled disabled active dormant suspended total }
    appRoles { role count }
  }
}";

fn gql_errors(response: &Value) -> Option<String> {
    match response.get("errors").and_then(Value::as_array) {
        Some(errors) if !errors.is_empty() => {
            Some(serde_json::to_string(errors).unwrap_or_default())
        }
        _ => None,
    }
}

fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn parse_time(value: &Value, what: &str) -> Result<DateTime<Utc>, String> {
    let s = value
        .as_str()
        .ok_or_else(|| format!("{what}: expected a DateTime, got {value}"))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{what}: {s}: {e}"))
}

fn parse_row(node: &Value) -> Result<Row, String> {
    let text = |field: &str| -> Result<String, String> {
        node[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("snapshot field {field} missing in {node}"))
    };
    let roles = node["roles"]
        .as_array()
        .ok_or_else(|| format!("roles missing in {node}"))?
        .iter()
        .map(|r| r.as_str().unwrap_or("?").to_owned())
        .collect();
    let datasets = node["datasets"]
        .as_array()
        .ok_or_else(|| format!("datasets missing in {node}"))?
        .iter()
        .map(|d| {
            (
                d["datasetId"].as_i64().unwrap_or(-1),
                d["datasetName"].as_str().unwrap_or("?").to_owned(),
                d["role"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    Ok(Row {
        user_id: node["userId"]
            .as_i64()
            .ok_or_else(|| format!("userId missing in {node}"))?,
        email: text("email")?,
        name: text("name")?,
        realm: text("realm")?,
        created_at: parse_time(&node["createdAt"], "createdAt")?,
        status: text("status")?,
        enabled: node["enabled"]
            .as_bool()
            .ok_or_else(|| format!("enabled missing in {node}"))?,
        roles,
        datasets,
        live: !node["user"].is_null(),
    })
}

/// What the server must answer to one mutation.
enum Expect {
    /// An error with one of these codes; nothing written.
    Error(&'static [&'static str]),
    /// Success; the user's new state when something changed (None inside:
    /// deleted).
    Ok(Option<Option<State>>),
}

impl<'a> Run<'a> {
    fn fixture(&self) -> &Fixture {
        self.fixture.as_ref().expect("set up")
    }

    fn describe(&self, case: &Case) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "case run #{} on {}, zone {}, page size {}, now {NOW}",
            self.number,
            self.t.backend().name(),
            case.zone,
            case.page_size
        );
        if let Some(f) = &self.fixture {
            let _ = writeln!(out, "realms {:?}, datasets {:?}", f.realms, f.datasets);
        }
        let _ = writeln!(out, "operations as applied:");
        for line in &self.log {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "model histories:");
        for u in &self.users {
            let _ = writeln!(
                out,
                "  u{} = userId {} in {}:",
                u.slot,
                u.id,
                self.fixture
                    .as_ref()
                    .map_or("?".to_owned(), |f| f.realms[u.realm].clone())
            );
            for (when, state) in &u.history {
                match state {
                    Some(s) => {
                        let _ = writeln!(
                            out,
                            "    {} {} {:?} {:?} {} <{}>",
                            rfc3339(*when),
                            s.status,
                            s.roles,
                            s.datasets,
                            s.name,
                            s.email
                        );
                    }
                    None => {
                        let _ = writeln!(out, "    {} DELETED", rfc3339(*when));
                    }
                }
            }
        }
        out
    }

    async fn set_up(&mut self) -> Result<(), String> {
        self.t.clock().set(self.cal.now);
        let realms = [
            format!("oracle-{}-a", self.number),
            format!("oracle-{}-b", self.number),
        ];
        let mut datasets: [[(i64, String); 2]; 2] = Default::default();
        for (r, realm) in realms.iter().enumerate() {
            self.admin_ok(
                "mutation($name: String!) { createRealm(name: $name) { name } }",
                json!({ "name": realm }),
            )
            .await?;
            for (d, slot) in datasets[r].iter_mut().enumerate() {
                let name = format!("ds-{}-{}", ["a", "b"][r], d);
                let data = self
                    .admin_ok(
                        "mutation($realm: String!, $name: String!) {
                           createDataset(realm: $realm, name: $name) { datasetId }
                         }",
                        json!({ "realm": realm, "name": name }),
                    )
                    .await?;
                let id = data["createDataset"]["datasetId"]
                    .as_i64()
                    .ok_or_else(|| format!("createDataset: {data}"))?;
                *slot = (id, name);
            }
        }
        let bound: Vec<&str> = realms.iter().map(String::as_str).collect();
        let reader = self.t.token(&["USERS_READ"], Some(&bound)).await;
        self.fixture = Some(Fixture {
            realms,
            datasets,
            reader,
        });
        Ok(())
    }

    /// Runs an operation as the admin token; it must succeed.
    async fn admin_ok(&self, query: &str, vars: Value) -> Result<Value, String> {
        let response = self.t.gql(self.admin, query, vars.clone()).await;
        match gql_errors(&response) {
            Some(errors) => Err(format!("{query} with {vars} failed: {errors}")),
            None => Ok(response["data"].clone()),
        }
    }

    /// Applies one operation to the server and the model.
    async fn apply(&mut self, i: usize, op: &Op, clock: DateTime<Utc>) -> Result<(), String> {
        let t = self.t;
        t.clock().set(clock);
        let stamp = format!("#{i:02} clock {}", rfc3339(clock));

        if let Action::Create {
            realm,
            status,
            roles,
            datasets,
        } = &op.action
        {
            let slot = self.users.len();
            let f = self.fixture();
            let state = State {
                email: format!("u{slot}@run{}.test", self.number),
                name: format!("{} {slot}", NAMES[0]),
                status,
                roles: roles.iter().copied().collect(),
                datasets: datasets
                    .iter()
                    .enumerate()
                    .filter_map(|(d, role)| role.map(|r| (d, r)))
                    .collect(),
            };
            let grants: Vec<Value> = state
                .datasets
                .iter()
                .map(|(d, role)| json!({ "datasetId": f.datasets[*realm][*d].0, "role": role }))
                .collect();
            let input = json!({
                "realm": f.realms[*realm],
                "email": state.email,
                "name": state.name,
                "status": status,
                "roles": roles,
                "datasets": grants,
            });
            self.log.push(format!("{stamp} createUser u{slot} {input}"));
            let response = t
                .gql(
                    self.admin,
                    "mutation($input: CreateUserInput!) { createUser(input: $input) { userId createdAt updatedAt } }",
                    json!({ "input": input }),
                )
                .await;
            if let Some(errors) = gql_errors(&response) {
                return Err(format!("op #{i}: createUser failed: {errors}"));
            }
            let created = &response["data"]["createUser"];
            let id = created["userId"]
                .as_i64()
                .ok_or_else(|| format!("op #{i}: no userId in {created}"))?;
            let created_at = parse_time(&created["createdAt"], "createUser.createdAt")?;
            if created_at != clock {
                return Err(format!(
                    "op #{i}: createUser is dated {} but the clock says {}",
                    rfc3339(created_at),
                    rfc3339(clock)
                ));
            }
            self.log.push(format!("    -> userId {id}"));
            self.users.push(ModelUser {
                id,
                slot,
                realm: *realm,
                created_at: clock,
                history: vec![(clock, Some(state))],
            });
            return Ok(());
        }

        let user = match &op.action {
            Action::Create { .. } => unreachable!(),
            Action::SetStatus { user, .. }
            | Action::SetRoles { user, .. }
            | Action::AddRoles { user, .. }
            | Action::RemoveRoles { user, .. }
            | Action::SetDatasetRole { user, .. }
            | Action::Rename { user, .. }
            | Action::Delete { user } => *user,
        };
        if self.users.is_empty() {
            self.log
                .push(format!("{stamp} {:?}: skipped, no user yet", op.action));
            return Ok(());
        }
        let slot = user % self.users.len();
        let f = self.fixture.as_ref().expect("set up");
        let u = &self.users[slot];
        let id = u.id;
        let current = u.current().cloned();

        let (field, query, vars, expect): (&str, &str, Value, Expect) = match &op.action {
            Action::Create { .. } => unreachable!(),
            Action::SetStatus { status, .. } => (
                "setUserStatus",
                "mutation($id: Int!, $status: UserStatus!) { setUserStatus(userId: $id, status: $status) { userId updatedAt deletedAt } }",
                json!({ "id": id, "status": status }),
                edit(&current, |s| s.status = *status),
            ),
            Action::SetRoles { roles, .. } => (
                "setUserRoles",
                "mutation($id: Int!, $roles: [String!]!) { setUserRoles(userId: $id, roles: $roles) { userId updatedAt deletedAt } }",
                json!({ "id": id, "roles": roles }),
                edit(&current, |s| s.roles = roles.iter().copied().collect()),
            ),
            Action::AddRoles { roles, .. } => (
                "addUserRoles",
                "mutation($id: Int!, $roles: [String!]!) { addUserRoles(userId: $id, roles: $roles) { userId updatedAt deletedAt } }",
                json!({ "id": id, "roles": roles }),
                edit(&current, |s| s.roles.extend(roles.iter().copied())),
            ),
            Action::RemoveRoles { roles, .. } => (
                "removeUserRoles",
                "mutation($id: Int!, $roles: [String!]!) { removeUserRoles(userId: $id, roles: $roles) { userId updatedAt deletedAt } }",
                json!({ "id": id, "roles": roles }),
                edit(&current, |s| {
                    for r in roles {
                        s.roles.remove(r);
                    }
                }),
            ),
            Action::SetDatasetRole {
                dataset,
                role,
                foreign,
                ..
            } => {
                let realm = if *foreign { 1 - u.realm } else { u.realm };
                let vars =
                    json!({ "id": id, "dataset": f.datasets[realm][*dataset].0, "role": role });
                let expect = match (&current, *foreign) {
                    (None, true) => Expect::Error(&["NOT_FOUND", "BAD_USER_INPUT"]),
                    (Some(_), true) => Expect::Error(&["BAD_USER_INPUT"]),
                    _ => edit(&current, |s| match role {
                        Some(r) => {
                            s.datasets.insert(*dataset, *r);
                        }
                        None => {
                            s.datasets.remove(dataset);
                        }
                    }),
                };
                (
                    "setDatasetRole",
                    "mutation($id: Int!, $dataset: Int!, $role: String) { setDatasetRole(userId: $id, datasetId: $dataset, role: $role) { userId updatedAt deletedAt } }",
                    vars,
                    expect,
                )
            }
            Action::Rename {
                name, new_email, ..
            } => {
                let name = format!("{} {}", NAMES[*name], u.slot);
                let email = new_email.then(|| format!("u{}.{i}@run{}.test", u.slot, self.number));
                let mut input = json!({ "userId": id, "name": name });
                if let Some(email) = &email {
                    input["email"] = json!(email);
                }
                (
                    "updateUser",
                    "mutation($input: UpdateUserInput!) { updateUser(input: $input) { userId updatedAt deletedAt } }",
                    json!({ "input": input }),
                    edit(&current, |s| {
                        s.name = name.clone();
                        if let Some(email) = &email {
                            s.email = email.clone();
                        }
                    }),
                )
            }
            Action::Delete { .. } => (
                "deleteUser",
                "mutation($id: Int!) { deleteUser(userId: $id) { userId updatedAt deletedAt } }",
                json!({ "id": id }),
                match &current {
                    None => Expect::Error(&["NOT_FOUND"]),
                    Some(_) => Expect::Ok(Some(None)),
                },
            ),
        };

        self.log
            .push(format!("{stamp} {field} u{} (userId {id}) {vars}", u.slot));
        let response = t.gql(self.admin, query, vars).await;
        match expect {
            Expect::Error(codes) => {
                let got = error_codes(&response);
                if got.is_empty() || !got.iter().all(|c| codes.contains(&c.as_str())) {
                    return Err(format!(
                        "op #{i}: {field} should fail with {codes:?}, got {response}"
                    ));
                }
                self.log.push(format!("    -> error {got:?} (expected)"));
            }
            Expect::Ok(change) => {
                if let Some(errors) = gql_errors(&response) {
                    return Err(format!("op #{i}: {field} failed: {errors}"));
                }
                let u = &mut self.users[slot];
                let previous = u.last().0;
                // Dated now, but never before the user's previous change.
                let dated = clock.max(previous);
                let changed = change.is_some();
                if let Some(after) = change {
                    u.history.push((dated, after));
                }
                let returned = &response["data"][field];
                let updated_at = parse_time(&returned["updatedAt"], "updatedAt")?;
                if updated_at != u.last().0 {
                    return Err(format!(
                        "op #{i}: {field} returned updatedAt {}, the model expects {} \
                         (clock {}, previous change {}, {})",
                        rfc3339(updated_at),
                        rfc3339(u.last().0),
                        rfc3339(clock),
                        rfc3339(previous),
                        if changed { "a change" } else { "a no-op" }
                    ));
                }
                if field == "deleteUser" {
                    let deleted_at = parse_time(&returned["deletedAt"], "deletedAt")?;
                    if deleted_at != dated {
                        return Err(format!(
                            "op #{i}: deleteUser returned deletedAt {}, expected {}",
                            rfc3339(deleted_at),
                            rfc3339(dated)
                        ));
                    }
                }
                self.log.push(if changed {
                    format!("    -> changed, dated {}", rfc3339(dated))
                } else {
                    "    -> no change".to_owned()
                });
            }
        }
        Ok(())
    }

    /// The snapshot rows the model expects at `at`, by userId.
    fn expected_rows(&self, at: DateTime<Utc>) -> Vec<Row> {
        let f = self.fixture();
        let mut rows: Vec<Row> = self
            .users
            .iter()
            .filter_map(|u| {
                let s = u.at(at)?;
                let mut datasets: Vec<(i64, String, String)> = s
                    .datasets
                    .iter()
                    .map(|(d, role)| {
                        let (id, name) = &f.datasets[u.realm][*d];
                        (*id, name.clone(), role.to_string())
                    })
                    .collect();
                datasets.sort();
                Some(Row {
                    user_id: u.id,
                    email: s.email.clone(),
                    name: s.name.clone(),
                    realm: f.realms[u.realm].clone(),
                    created_at: u.created_at,
                    status: s.status.to_owned(),
                    enabled: s.status != "SUSPENDED",
                    roles: s.roles.iter().map(|r| r.to_string()).collect(),
                    datasets,
                    live: u.current().is_some(),
                })
            })
            .collect();
        rows.sort_by_key(|r| r.user_id);
        rows
    }

    /// The summary the model expects at `at`, in one realm or both.
    fn expected_counts(&self, at: DateTime<Utc>, realm: Option<usize>) -> Counts {
        let mut counts = Counts::zero();
        for u in &self.users {
            if realm.is_some_and(|r| r != u.realm) {
                continue;
            }
            let Some(s) = u.at(at) else { continue };
            counts.total += 1;
            match s.status {
                "ACTIVE" => counts.active += 1,
                "DORMANT" => counts.dormant += 1,
                _ => counts.suspended += 1,
            }
            if s.status == "SUSPENDED" {
                counts.disabled += 1;
            } else {
                counts.enabled += 1;
            }
            for role in &s.roles {
                *counts.roles.entry(role.to_string()).or_default() += 1;
            }
        }
        counts
    }

    /// One userSnapshots page.
    async fn snapshot_page(
        &self,
        secret: &str,
        at: DateTime<Utc>,
        filter: &Value,
        paging: Value,
    ) -> Result<Value, String> {
        let mut vars = json!({ "date": rfc3339(at), "filter": filter });
        for (k, v) in paging.as_object().into_iter().flatten() {
            vars[k] = v.clone();
        }
        let response = self.t.gql(secret, SNAPSHOTS, vars.clone()).await;
        if let Some(errors) = gql_errors(&response) {
            return Err(format!("userSnapshots {vars} failed: {errors}"));
        }
        let connection = response["data"]["userSnapshots"].clone();
        for node in nodes(&connection) {
            let as_of = parse_time(&node["asOf"], "asOf")?;
            if as_of != at {
                return Err(format!(
                    "userSnapshots {vars}: asOf {} instead of {}",
                    rfc3339(as_of),
                    rfc3339(at)
                ));
            }
        }
        Ok(connection)
    }

    /// Every snapshot row at `at`, walked with `first: 1000`; checks totalCount.
    async fn walk(
        &self,
        what: &str,
        secret: &str,
        at: DateTime<Utc>,
        filter: &Value,
        expected: &[Row],
    ) -> Result<(), String> {
        let mut rows = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = self
                .snapshot_page(secret, at, filter, json!({ "first": 1000, "after": after }))
                .await?;
            let total = page["totalCount"].as_i64();
            if total != Some(expected.len() as i64) {
                return Err(format!(
                    "{what} at {}: totalCount {total:?}, the model has {} users\nexpected rows: {expected:#?}",
                    rfc3339(at),
                    expected.len()
                ));
            }
            for node in nodes(&page) {
                rows.push(parse_row(&node)?);
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        if rows != expected {
            return Err(format!(
                "{what} at {} differs from the model\nserver: {rows:#?}\nmodel:  {expected:#?}",
                rfc3339(at)
            ));
        }
        Ok(())
    }

    /// The snapshot at `at` in small pages, forward with `after` and backward
    /// with `before`; the pages must add up to `expected` with exact flags.
    async fn page_through(
        &self,
        at: DateTime<Utc>,
        filter: &Value,
        size: i32,
        expected: &[Row],
    ) -> Result<(), String> {
        let admin = self.admin;
        let n = expected.len();
        let mut rows: Vec<Row> = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = self
                .snapshot_page(admin, at, filter, json!({ "first": size, "after": after }))
                .await?;
            let got: Vec<Row> = nodes(&page)
                .iter()
                .map(parse_row)
                .collect::<Result<_, _>>()?;
            let start = rows.len();
            let end = (start + size as usize).min(n);
            let info = &page["pageInfo"];
            let flags = (
                info["hasPreviousPage"].as_bool(),
                info["hasNextPage"].as_bool(),
            );
            if got.as_slice() != &expected[start..end]
                || flags != (Some(start > 0), Some(end < n))
                || page["totalCount"].as_i64() != Some(n as i64)
            {
                return Err(format!(
                    "forward page (first {size}, after {after}) at {}: got {got:#?} with {info} and totalCount {}, \
                     expected rows {start}..{end} of {expected:#?}",
                    rfc3339(at),
                    page["totalCount"]
                ));
            }
            rows.extend(got);
            if end >= n || rows.is_empty() {
                break;
            }
            after = info["endCursor"].clone();
        }
        let mut end = n;
        let mut before = Value::Null;
        loop {
            let page = self
                .snapshot_page(admin, at, filter, json!({ "last": size, "before": before }))
                .await?;
            let got: Vec<Row> = nodes(&page)
                .iter()
                .map(parse_row)
                .collect::<Result<_, _>>()?;
            let start = end.saturating_sub(size as usize);
            let info = &page["pageInfo"];
            let flags = (
                info["hasPreviousPage"].as_bool(),
                info["hasNextPage"].as_bool(),
            );
            if got.as_slice() != &expected[start..end] || flags != (Some(start > 0), Some(end < n))
            {
                return Err(format!(
                    "backward page (last {size}, before {before}) at {}: got {got:#?} with {info}, \
                     expected rows {start}..{end} of {expected:#?}",
                    rfc3339(at)
                ));
            }
            if start == 0 {
                break;
            }
            end = start;
            before = info["startCursor"].clone();
        }
        Ok(())
    }

    async fn summary(
        &self,
        secret: &str,
        date: NaiveDate,
        zone: &str,
        realm: Option<&str>,
    ) -> Result<Counts, String> {
        let vars = json!({ "date": date.to_string(), "tz": zone, "realm": realm });
        let response = self.t.gql(secret, SUMMARY, vars.clone()).await;
        if let Some(errors) = gql_errors(&response) {
            return Err(format!("userSummary {vars} failed: {errors}"));
        }
        let summary = &response["data"]["userSummary"];
        if summary["date"] != json!(date.to_string()) || summary["realm"] != json!(realm) {
            return Err(format!("userSummary {vars} echoes {summary}"));
        }
        parse_summary(summary)
    }

    /// The query instant a probe stands for.
    fn probe_time(&self, probe: &Probe) -> DateTime<Utc> {
        let t = match probe {
            Probe::Anywhere(us) => self.cal.start + Duration::microseconds(*us),
            Probe::AtChange { change, offset_us } => {
                let mut times: Vec<DateTime<Utc>> = self
                    .users
                    .iter()
                    .flat_map(|u| u.history.iter().map(|(t, _)| *t))
                    .collect();
                times.sort();
                times.dedup();
                if times.is_empty() {
                    self.cal.now
                } else {
                    *change.get(&times) + Duration::microseconds(*offset_us)
                }
            }
            Probe::Midnight { day, just_before } => self.cal.window_midnight(*day, *just_before),
            Probe::Now => self.cal.now,
        };
        t.min(self.cal.now)
    }

    async fn go(&mut self, case: &Case) -> Result<(), String> {
        self.set_up().await?;
        let mut clock = self.cal.start + Duration::days(WINDOW_DAYS / 2);
        for (i, op) in case.ops.iter().enumerate() {
            clock = self.cal.op_time(&op.when, clock);
            self.apply(i, op, clock).await?;
        }

        self.t.clock().set(self.cal.now);
        let f = self.fixture();
        let admin = self.admin;
        let reader = f.reader.clone();
        let both = json!({ "realm": f.realms });
        let realms = f.realms.clone();
        let instants: Vec<DateTime<Utc>> = case.probes.iter().map(|p| self.probe_time(p)).collect();
        self.log.push(format!(
            "query instants: {:?}",
            instants.iter().map(|t| rfc3339(*t)).collect::<Vec<_>>()
        ));
        for (k, &at) in instants.iter().enumerate() {
            let expected = self.expected_rows(at);
            self.walk(
                "userSnapshots(filter: both realms)",
                admin,
                at,
                &both,
                &expected,
            )
            .await?;
            self.walk(
                "userSnapshots without filter, token bound to both realms",
                &reader,
                at,
                &Value::Null,
                &expected,
            )
            .await?;
            if k == 0 {
                self.page_through(at, &both, case.page_size, &expected)
                    .await?;
            }

            // The probe's local day, and the day before it, which ends just
            // before the local midnight the probe may sit on.
            let day = self.cal.local_date(at);
            for date in [day - Duration::days(1), day] {
                let counted_at = self.cal.summary_instant(date);
                let checks: [(&str, Option<usize>); 3] =
                    [(admin, Some(0)), (admin, Some(1)), (&reader, None)];
                for (secret, realm) in checks {
                    let name = realm.map(|r| realms[r].as_str());
                    let got = self.summary(secret, date, case.zone, name).await?;
                    let expected = self.expected_counts(counted_at, realm);
                    if got != expected {
                        return Err(format!(
                            "userSummary(date: {date}, timeZone: {}, realm: {name:?}) for instant {} \
                             (counted at {}) differs from the model\nserver: {got:#?}\nmodel:  {expected:#?}",
                            case.zone,
                            rfc3339(at),
                            rfc3339(counted_at)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The model's verdict on an edit of a live user: the new state when it
/// differs; an edit of a deleted user must fail with NOT_FOUND.
fn edit(current: &Option<State>, f: impl FnOnce(&mut State)) -> Expect {
    match current {
        None => Expect::Error(&["NOT_FOUND"]),
        Some(before) => {
            let mut after = before.clone();
            f(&mut after);
            Expect::Ok((after != *before).then_some(Some(after)))
        }
    }
}

async fn run_case(t: &TestServer, admin: &str, case: &Case) -> Result<(), TestCaseError> {
    let mut run = Run {
        t,
        admin,
        number: RUNS.fetch_add(1, Ordering::SeqCst) + 1,
        cal: Calendar::new(case.zone),
        fixture: None,
        users: Vec::new(),
        log: Vec::new(),
    };
    match run.go(case).await {
        Ok(()) => Ok(()),
        Err(message) => Err(TestCaseError::fail(format!(
            "{message}\n\n{}",
            run.describe(case)
        ))),
    }
}

async fn snapshots_and_summaries_match_a_naive_replay(t: TestServer) {
    let admin = t.admin_secret().to_owned();
    check_against_model(&t, case(), DEFAULT_CASES, |case| {
        let (t, admin) = (&t, admin.as_str());
        async move { run_case(t, admin, &case).await }
    })
    .await;
}
