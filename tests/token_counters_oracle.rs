//! The correctness oracle of token counting: random sequences of token
//! events over HTTP, each answer (success or error code) and every counter
//! row it recorded compared with a naive model that recounts all its tokens
//! after every event; at the end, `currentTokenCounts` against the same
//! recount, and the daily highs against the rows. One server per backend; each case gets two fresh realms (`a`
//! with a random policy of its own, `b` on the `*` default of every status)
//! and shares `/:no realm:/` with earlier cases, whose tokens are read as a
//! baseline. PROPTEST_CASES overrides the number of cases (default 16).

#[macro_use]
mod common;
mod token_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use entity::token_counter;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use token_support::*;

backend_tests!(counters_match_a_full_recount);

const SERIALS: usize = 5;
/// Users 0 and 1 are in realm a, 2 and 3 in realm b.
const USERS: usize = 4;
const DEFAULT_CASES: u32 = 16;
const NO_REALM: &str = "/:no realm:/";

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone)]
enum Op {
    Enroll {
        serial: usize,
        realm: Option<usize>,
        user: Option<usize>,
        active: bool,
    },
    Assign {
        serial: usize,
        user: usize,
    },
    Unassign {
        serial: usize,
    },
    SetActive {
        serial: usize,
        active: bool,
    },
    SetRealm {
        serial: usize,
        realm: Option<usize>,
    },
    Remove {
        serial: usize,
    },
}

#[derive(Debug, Clone)]
struct Case {
    /// Realm a's own policy.
    policy: Vec<&'static str>,
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let serial = 0..SERIALS;
    let realm = proptest::option::of(0..2usize);
    prop_oneof![
        3 => (serial.clone(), realm.clone(), proptest::option::of(0..USERS), any::<bool>())
            .prop_map(|(serial, realm, user, active)| Op::Enroll { serial, realm, user, active }),
        2 => (serial.clone(), 0..USERS).prop_map(|(serial, user)| Op::Assign { serial, user }),
        1 => serial.clone().prop_map(|serial| Op::Unassign { serial }),
        2 => (serial.clone(), any::<bool>())
            .prop_map(|(serial, active)| Op::SetActive { serial, active }),
        1 => (serial.clone(), realm).prop_map(|(serial, realm)| Op::SetRealm { serial, realm }),
        1 => serial.prop_map(|serial| Op::Remove { serial }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        subsequence(ALL_STATUSES.to_vec(), 1..=ALL_STATUSES.len()),
        proptest::collection::vec(op(), 1..30),
    )
        .prop_map(|(policy, ops)| Case { policy, ops })
}

/// A token in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tok {
    realm: Option<usize>,
    user: Option<usize>,
    active: bool,
}

/// What the model expects of one operation.
enum Outcome {
    Error(&'static str),
    Unchanged,
    /// The counter event, the token before and after.
    Event(&'static str, Option<Tok>, Option<Tok>),
}

fn user_realm(user: usize) -> usize {
    user / 2
}

/// The model's rules: the service's, written plainly.
fn predict(tokens: &BTreeMap<usize, Tok>, op: &Op) -> Outcome {
    let serial = match op {
        Op::Enroll { serial, .. }
        | Op::Assign { serial, .. }
        | Op::Unassign { serial }
        | Op::SetActive { serial, .. }
        | Op::SetRealm { serial, .. }
        | Op::Remove { serial } => *serial,
    };
    let current = tokens.get(&serial).copied();
    if let Op::Enroll {
        realm,
        user,
        active,
        ..
    } = op
    {
        // The input is checked before the serial is looked up.
        let realm = match (realm, user) {
            (Some(r), Some(u)) if *r != user_realm(*u) => return Outcome::Error("BAD_USER_INPUT"),
            (_, Some(u)) => Some(user_realm(*u)),
            (r, None) => *r,
        };
        if current.is_some() {
            return Outcome::Error("CONFLICT");
        }
        let after = Tok {
            realm,
            user: *user,
            active: *active,
        };
        return Outcome::Event("token_init", None, Some(after));
    }
    let Some(before) = current else {
        return Outcome::Error("NOT_FOUND");
    };
    let mut after = before;
    let event = match op {
        Op::Enroll { .. } => unreachable!(),
        Op::Assign { user, .. } => {
            if before.realm.is_some_and(|r| r != user_realm(*user)) {
                return Outcome::Error("BAD_USER_INPUT");
            }
            after.realm = Some(user_realm(*user));
            after.user = Some(*user);
            "token_assign"
        }
        Op::Unassign { .. } => {
            after.user = None;
            "token_unassign"
        }
        Op::SetActive { active, .. } => {
            after.active = *active;
            if *active {
                "token_enable"
            } else {
                "token_disable"
            }
        }
        Op::SetRealm { realm, .. } => {
            if before.user.is_some() && *realm != before.realm {
                return Outcome::Error("BAD_USER_INPUT");
            }
            after.realm = *realm;
            "token_tokenrealm"
        }
        Op::Remove { .. } => return Outcome::Event("token_remove", Some(before), None),
    };
    if after == before {
        Outcome::Unchanged
    } else {
        Outcome::Event(event, Some(before), Some(after))
    }
}

/// The full recount: status → count of one realm's tokens.
fn recount(tokens: &BTreeMap<usize, Tok>, realm: Option<usize>) -> BTreeMap<&'static str, i64> {
    let mut counts: BTreeMap<&'static str, i64> = ALL_STATUSES.iter().map(|s| (*s, 0)).collect();
    let mut holders = std::collections::BTreeSet::new();
    for tok in tokens.values().filter(|t| t.realm == realm) {
        let (a, u) = (tok.active, tok.user.is_some());
        let mut add = |s: &'static str| *counts.get_mut(s).unwrap() += 1;
        add("TOTAL");
        add(if a { "ACTIVE" } else { "INACTIVE" });
        add(if u { "ASSIGNED" } else { "UNASSIGNED" });
        add(match (a, u) {
            (true, true) => "ACTIVE_ASSIGNED",
            (true, false) => "ACTIVE_UNASSIGNED",
            (false, true) => "INACTIVE_ASSIGNED",
            (false, false) => "INACTIVE_UNASSIGNED",
        });
        if let (true, Some(user)) = (a, tok.user) {
            holders.insert(user);
        }
    }
    counts.insert("TOTAL_USERS", holders.len() as i64);
    counts
}

struct Run<'a> {
    t: &'a TestServer,
    admin: &'a str,
    realms: [String; 2],
    users: Vec<i64>,
    serials: Vec<String>,
    /// `/:no realm:/` counts left by earlier cases.
    baseline: BTreeMap<String, i64>,
    tokens: BTreeMap<usize, Tok>,
    policy: Vec<&'static str>,
}

impl Run<'_> {
    fn realm_name(&self, realm: Option<usize>) -> String {
        realm.map_or_else(|| NO_REALM.to_owned(), |r| self.realms[r].clone())
    }

    fn policy_of(&self, realm: Option<usize>) -> Vec<&'static str> {
        match realm {
            Some(0) => ALL_STATUSES
                .iter()
                .copied()
                .filter(|s| self.policy.contains(s))
                .collect(),
            _ => ALL_STATUSES.to_vec(),
        }
    }

    /// The counts of a realm now, per the model (plus the baseline).
    fn expected_counts(&self, realm: Option<usize>) -> BTreeMap<&'static str, i64> {
        let mut counts = recount(&self.tokens, realm);
        if realm.is_none() {
            for (status, count) in counts.iter_mut() {
                *count += self.baseline.get(*status).copied().unwrap_or(0);
            }
        }
        counts
    }

    /// The rows an event of the model records, in the server's order:
    /// realms by name, statuses in the enum's order.
    fn expected_rows(&self, event: &str, realms: &[Option<usize>]) -> Vec<Row> {
        let mut realms: Vec<(String, Option<usize>)> =
            realms.iter().map(|r| (self.realm_name(*r), *r)).collect();
        realms.sort();
        realms.dedup();
        let mut rows = Vec::new();
        for (name, realm) in realms {
            let counts = self.expected_counts(realm);
            for status in self.policy_of(realm) {
                rows.push(row(event, &name, status, counts[status]));
            }
        }
        rows
    }

    async fn send(&self, op: &Op) -> Value {
        let s = |serial: &usize| self.serials[*serial].clone();
        let (name, args) = match op {
            Op::Enroll {
                serial,
                realm,
                user,
                active,
            } => (
                "enrollToken",
                json!({ "input": {
                    "serial": s(serial),
                    "realm": realm.map(|r| self.realms[r].clone()),
                    "userId": user.map(|u| self.users[u]),
                    "active": active,
                } }),
            ),
            Op::Assign { serial, user } => (
                "assignToken",
                json!({ "serial": s(serial), "userId": self.users[*user] }),
            ),
            Op::Unassign { serial } => ("unassignToken", json!({ "serial": s(serial) })),
            Op::SetActive { serial, active } => (
                if *active {
                    "enableToken"
                } else {
                    "disableToken"
                },
                json!({ "serial": s(serial) }),
            ),
            Op::SetRealm { serial, realm } => (
                "setTokenRealm",
                json!({ "serial": s(serial), "realm": realm.map(|r| self.realms[r].clone()) }),
            ),
            Op::Remove { serial } => ("removeToken", json!({ "serial": s(serial) })),
        };
        token_op(self.t, self.admin, name, args).await
    }

    async fn rows_after(&self, mark: i64) -> Vec<Row> {
        token_counter::Entity::find()
            .filter(token_counter::Column::Id.gt(mark))
            .order_by_asc(token_counter::Column::Id)
            .all(self.t.conn())
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.event, r.realm, r.status, r.count))
            .collect()
    }

    async fn last_row_id(&self) -> i64 {
        token_counter::Entity::find()
            .order_by_desc(token_counter::Column::Id)
            .one(self.t.conn())
            .await
            .unwrap()
            .map_or(0, |r| r.id)
    }

    async fn current(&self) -> Result<Vec<(String, String, Option<i64>)>, String> {
        let names = [
            NO_REALM.to_owned(),
            self.realms[0].clone(),
            self.realms[1].clone(),
        ];
        let response = self
            .t
            .gql(
                self.admin,
                "query($r: [String!]) { currentTokenCounts(realms: $r) { realm counts { status count } } }",
                json!({ "r": names }),
            )
            .await;
        match response.get("errors") {
            Some(errors) => Err(format!("currentTokenCounts failed: {errors}")),
            None => Ok(counts(&response["data"]["currentTokenCounts"])),
        }
    }

    async fn go(&mut self, case: &Case) -> Result<(), String> {
        let mark = self.last_row_id().await;
        let mut expected: Vec<Row> = Vec::new();
        for (i, op) in case.ops.iter().enumerate() {
            let response = self.send(op).await;
            let outcome = predict(&self.tokens, op);
            let got_error = response.get("errors").map(|_| code(&response));
            match outcome {
                Outcome::Error(want) => {
                    if got_error.as_deref() != Some(want) {
                        return Err(format!("op {i} {op:?}: expected {want}, got {response}"));
                    }
                }
                Outcome::Unchanged => {
                    if let Some(err) = got_error {
                        return Err(format!(
                            "op {i} {op:?}: expected a no-op, got {err}: {response}"
                        ));
                    }
                }
                Outcome::Event(event, before, after) => {
                    if let Some(err) = got_error {
                        return Err(format!(
                            "op {i} {op:?}: expected {event}, got {err}: {response}"
                        ));
                    }
                    let serial = match op {
                        Op::Enroll { serial, .. }
                        | Op::Assign { serial, .. }
                        | Op::Unassign { serial }
                        | Op::SetActive { serial, .. }
                        | Op::SetRealm { serial, .. }
                        | Op::Remove { serial } => *serial,
                    };
                    match after {
                        Some(tok) => self.tokens.insert(serial, tok),
                        None => self.tokens.remove(&serial),
                    };
                    let realms: Vec<Option<usize>> = [before, after]
                        .into_iter()
                        .flatten()
                        .map(|t| t.realm)
                        .collect();
                    expected.extend(self.expected_rows(event, &realms));
                }
            }
            let got = self.rows_after(mark).await;
            if got != expected {
                return Err(format!(
                    "after op {i} {op:?}: recorded rows differ from the recount\n got: {got:?}\nwant: {expected:?}"
                ));
            }
        }
        let mut want = Vec::new();
        for realm in [None, Some(0), Some(1)] {
            let counts = self.expected_counts(realm);
            for status in ALL_STATUSES {
                want.push(triple(
                    &self.realm_name(realm),
                    status,
                    Some(counts[status]),
                ));
            }
        }
        let got = self.current().await?;
        if got != want {
            return Err(format!(
                "currentTokenCounts differ from the recount\n got: {got:?}\nwant: {want:?}"
            ));
        }
        let names = [NO_REALM, self.realms[0].as_str(), self.realms[1].as_str()];
        let (stored, recomputed) = daily_highs(self.t, |realm| names.contains(&realm)).await;
        if stored != recomputed {
            return Err(format!(
                "daily highs differ from the rows\n got: {stored:?}\nwant: {recomputed:?}"
            ));
        }
        Ok(())
    }
}

async fn set_up<'a>(t: &'a TestServer, admin: &'a str, case: &Case) -> Result<Run<'a>, String> {
    let n = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    let realms = [format!("ora{n}a"), format!("ora{n}b")];
    for realm in &realms {
        t.create_realm(realm).await;
    }
    let mut users = Vec::new();
    for u in 0..USERS {
        users.push(
            t.create_user(&realms[user_realm(u)], &format!("u{u}@{n}.test"), &[])
                .await,
        );
    }
    set_policy(t, &realms[0], &case.policy).await;
    let mut run = Run {
        t,
        admin,
        realms,
        users,
        serials: (0..SERIALS).map(|s| format!("R{n}-S{s}")).collect(),
        baseline: BTreeMap::new(),
        tokens: BTreeMap::new(),
        policy: case.policy.clone(),
    };
    for (realm, status, count) in run.current().await? {
        if realm == NO_REALM {
            run.baseline.insert(status, count.unwrap_or(0));
        }
    }
    Ok(run)
}

async fn run_case(t: &TestServer, admin: &str, case: &Case) -> Result<(), TestCaseError> {
    let outcome = match set_up(t, admin, case).await {
        Ok(mut run) => run.go(case).await,
        Err(err) => Err(err),
    };
    outcome.map_err(|message| TestCaseError::fail(format!("{message}\n\ncase: {case:#?}")))
}

async fn counters_match_a_full_recount(t: TestServer) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        max_shrink_iters: 32,
        max_shrink_time: 60_000,
        failure_persistence: None,
        ..Config::default()
    };
    set_policy(&t, "*", &ALL_STATUSES).await;
    let admin = t.admin_secret().to_owned();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(config);
        runner.run(&case(), |case| handle.block_on(run_case(&t, &admin, &case)))
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => panic!(
            "{}: the counters disagree with a full recount.\n{reason}\nminimal case: {minimal:#?}",
            t.backend().name()
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}
