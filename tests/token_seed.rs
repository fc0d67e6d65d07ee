//! `seed --tokens N` writes what the services would have: tallies and
//! holders equal a recount of the tokens it leaves, the last counter row of
//! each realm and status equals the live count, rows grow with time, and the
//! services carry on from the generated data.

#[macro_use]
mod common;
mod token_support;

use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use entity::{realm, token, token_counter, token_holder, token_tally};
use headcount::seed::{TokenSpec, generate_tokens};
use headcount::service::tokens::TokenStatus;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use token_support::*;

backend_tests!(generated_tokens_are_what_the_services_would_write);

async fn generated_tokens_are_what_the_services_would_write(t: TestServer) {
    for realm in ["north", "south"] {
        t.create_realm(realm).await;
        for i in 0..6 {
            t.create_user(realm, &format!("u{i}@{realm}.test"), &[])
                .await;
        }
    }
    // Users exist from the clock's start; tokens come in the 30 days after.
    let now = t.now() + Duration::days(30);
    let spec = TokenSpec {
        tokens: 300,
        seed: 7,
        days: 30,
    };
    let summary = generate_tokens(t.db(), &spec, now).await.expect("generate");
    assert!(summary.starts_with("generated 300 tokens"), "{summary}");
    let again = generate_tokens(t.db(), &spec, now).await;
    assert!(
        again.is_err(),
        "a second run must refuse a database with tokens"
    );

    let c = t.conn();
    let names: BTreeMap<i32, String> = realm::Entity::find()
        .all(c)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    // A recount of the tokens left, per realm: the four cells and holders.
    let mut cells: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    let mut held: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for tok in token::Entity::find().all(c).await.unwrap() {
        let realm = tok
            .realm_id
            .map_or_else(|| "/:no realm:/".to_owned(), |id| names[&id].clone());
        let cell = match (tok.active, tok.user_id.is_some()) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        cells.entry(realm.clone()).or_default()[cell] += 1;
        if let (true, Some(user)) = (tok.active, tok.user_id) {
            *held.entry((realm, user)).or_default() += 1;
        }
    }
    let tallies = token_tally::Entity::find().all(c).await.unwrap();
    assert!(!tallies.is_empty());
    for tally in &tallies {
        let want = cells.get(&tally.realm).copied().unwrap_or_default();
        let got = [
            tally.active_assigned,
            tally.active_unassigned,
            tally.inactive_assigned,
            tally.inactive_unassigned,
        ];
        assert_eq!(got, want, "tally of {}", tally.realm);
        let users = held
            .keys()
            .filter(|(realm, _)| *realm == tally.realm)
            .count();
        assert_eq!(tally.users, users as i64, "holders of {}", tally.realm);
    }
    let holders: BTreeMap<(String, i32), i64> = token_holder::Entity::find()
        .all(c)
        .await
        .unwrap()
        .into_iter()
        .map(|h| ((h.realm, h.user_id), h.tokens))
        .collect();
    assert_eq!(holders, held);

    // The counters: in time order, and each series ends at the live count.
    let rows = token_counter::Entity::find()
        .order_by_asc(token_counter::Column::Id)
        .all(c)
        .await
        .unwrap();
    assert!(rows.len() > 300, "{} counter rows", rows.len());
    assert!(
        rows.windows(2)
            .all(|w| w[0].recorded_at <= w[1].recorded_at)
    );
    let mut last: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in &rows {
        last.insert((row.realm.clone(), row.status.clone()), row.count);
    }
    for tally in &tallies {
        for status in [
            TokenStatus::Total,
            TokenStatus::Active,
            TokenStatus::Assigned,
            TokenStatus::TotalUsers,
        ] {
            if let Some(count) = last.get(&(tally.realm.clone(), status.as_str().to_owned())) {
                assert_eq!(*count, status.count(tally), "{} {status}", tally.realm);
            }
        }
    }
    let (stored, recomputed) = daily_highs(&t, |_| true).await;
    assert!(!stored.is_empty());
    assert_eq!(stored, recomputed, "daily highs");
    let events: Vec<&str> = rows.iter().map(|r| r.event.as_str()).collect();
    for event in [
        "token_init",
        "token_assign",
        "token_unassign",
        "token_disable",
        "token_remove",
        "token_tokenrealm",
    ] {
        assert!(
            events.contains(&event),
            "no {event} among the generated events"
        );
    }

    // The services carry on: one more token in north counts from there.
    t.clock().set(now);
    let before = t
        .admin_ok(
            "{ currentTokenCounts(realms: [\"north\"], status: [TOTAL]) { realm counts { status count } } }",
            json!({}),
        )
        .await;
    let total = counts(&before["currentTokenCounts"])[0].2.expect("a count");
    enroll(&t, "AFTER-SEED", Some("north"), None).await;
    let last_row = counter_rows(&t).await.pop().expect("a row");
    let total_rows: Vec<Row> = counter_rows(&t)
        .await
        .into_iter()
        .filter(|r| r.0 == "token_init" && r.1 == "north" && r.2 == "TOTAL")
        .collect();
    assert_eq!(total_rows.last().map(|r| r.3), Some(total + 1));
    assert_eq!(last_row.1, "north");
}
