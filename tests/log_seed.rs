//! `seed --audit-events N --requests M` (the benchmarks' data): the rows
//! asked for, dated in their spans with times growing with ids, naming the
//! directory's users and realms, and read back by `auditEvents` and
//! `apiRequestStats` like rows the services wrote.

#[macro_use]
mod common;

use chrono::Duration;
use common::*;
use entity::{api_request, audit_event};
use headcount::seed::{LogSpec, generate_logs};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

backend_tests!(generated_logs_read_like_written_ones);

async fn generated_logs_read_like_written_ones(t: TestServer) {
    for realm in ["north", "south"] {
        t.create_realm(realm).await;
        for i in 0..5 {
            t.create_user(realm, &format!("u{i}@{realm}.test"), &[])
                .await;
        }
    }
    let written_before = t.audit_events().await.len();
    // Ending a day before the server's clock, clear of this test's own
    // requests and events.
    let now = t.now() - Duration::days(1);
    let spec = LogSpec {
        audit_events: 4500,
        requests: 4100,
        seed: 3,
        days: 40,
    };
    let summary = generate_logs(t.db(), &spec, now).await.expect("generate");
    assert!(
        summary.starts_with(
            "generated 4500 audit events over 40 days and 4100 request-log rows over 30 days"
        ),
        "{summary}"
    );

    let c = t.conn();
    let events = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(c)
        .await
        .unwrap();
    let generated = &events[written_before..];
    assert_eq!(generated.len(), 4500);
    // The generator ends a minute before its `now`.
    let end = (now - Duration::minutes(1)).timestamp_micros();
    let start = end - Duration::days(40).num_microseconds().unwrap();
    assert!(
        generated
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
    assert!(
        generated
            .iter()
            .all(|e| (start..end).contains(&e.occurred_at))
    );
    // Spread over the span, not bunched at one end.
    let mid = (start + end) / 2;
    let early = generated.iter().filter(|e| e.occurred_at < mid).count();
    assert!(
        (1500..3000).contains(&early),
        "{early} of 4500 in the first half"
    );
    for e in generated {
        assert!(
            matches!(e.realm.as_deref(), None | Some("north") | Some("south")),
            "{e:?}"
        );
        let resources: Value = serde_json::from_str(&e.resources).unwrap();
        if e.event.starts_with("user.") {
            let email = resources[0]["name"].as_str().unwrap();
            assert!(
                email.ends_with(&format!("@{}.test", e.realm.as_deref().unwrap())),
                "{e:?}"
            );
        }
    }
    let requests = api_request::Entity::find()
        .order_by_asc(api_request::Column::Id)
        .all(c)
        .await
        .unwrap();
    let generated: Vec<_> = requests.iter().filter(|r| r.occurred_at < end).collect();
    assert_eq!(generated.len(), 4100);
    let month = end - Duration::days(30).num_microseconds().unwrap();
    assert!(
        generated
            .iter()
            .all(|r| (month..end).contains(&r.occurred_at))
    );
    assert!(
        generated
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
    let failures = generated.iter().filter(|r| !r.success).count();
    assert!((40..400).contains(&failures), "{failures} failures of 4100");

    // Read back through the API.
    let range =
        json!({ "start": (now - Duration::days(40)).to_rfc3339(), "end": now.to_rfc3339() });
    let log = t
        .admin_ok(
            "query($start: DateTime, $end: DateTime) {
               auditEvents(allPermittedRealms: true, startDate: $start, endDate: $end, first: 5) { totalCount }
               apiRequestStats(startDate: $start, endDate: $end, groupBy: OUTCOME) { key count }
             }",
            range,
        )
        .await;
    assert_eq!(log["auditEvents"]["totalCount"], 4500);
    let total: i64 = log["apiRequestStats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4100);
}
