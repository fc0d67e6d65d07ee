//! Reading GraphQL answers: data, error codes, connections, values.

use super::*;

/// The fields tests read from a User.
pub const USER_FIELDS: &str = "id userId email name realm { id name } status enabled roles \
     datasets { datasetId datasetName role } createdAt updatedAt deletedAt";

/// The fields tests read from a UserChange.
pub const CHANGE_FIELDS: &str = "id date userId userEmail realm updatedBy updaterEmail \
     previouslyEnabled enabled previousStatus status previousRoles roles \
     previousDatasets { datasetId datasetName role } datasets { datasetId datasetName role } \
     changesMade";

/// `data` of a response that must have no errors.
pub fn data(response: &Value) -> &Value {
    if let Some(errors) = response.get("errors") {
        panic!(
            "expected no errors, got {}",
            serde_json::to_string_pretty(errors).unwrap_or_default()
        );
    }
    response
        .get("data")
        .unwrap_or_else(|| panic!("no data in {response}"))
}

/// The errors of a response that must have some.
pub fn errors(response: &Value) -> &Vec<Value> {
    match response.get("errors").and_then(Value::as_array) {
        Some(errors) if !errors.is_empty() => errors,
        _ => panic!(
            "expected an error, got {}",
            serde_json::to_string_pretty(response).unwrap_or_default()
        ),
    }
}

/// The first error's extensions.code.
pub fn code(response: &Value) -> String {
    errors(response)[0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no extensions.code>")
        .to_owned()
}

/// Asserts that the response failed with `code` (every error carries it).
#[track_caller]
pub fn assert_code(response: &Value, expected: &str) {
    let errors = errors(response);
    for error in errors {
        assert_eq!(
            error["extensions"]["code"].as_str(),
            Some(expected),
            "expected {expected}, got {}",
            serde_json::to_string_pretty(response).unwrap_or_default()
        );
    }
}

/// Asserts BAD_USER_INPUT with extensions.field equal to `field`.
#[track_caller]
pub fn assert_bad_input(response: &Value, field: &str) {
    assert_code(response, "BAD_USER_INPUT");
    let error = &errors(response)[0];
    assert_eq!(
        error["extensions"]["field"].as_str(),
        Some(field),
        "expected BAD_USER_INPUT naming field {field}, got {}",
        serde_json::to_string_pretty(response).unwrap_or_default()
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "an error needs a message: {error}"
    );
}

/// Asserts the named field of `data` is null or absent (no data leaked).
#[track_caller]
pub fn assert_no_data(response: &Value, field: &str) {
    let value = response
        .get("data")
        .and_then(|d| d.get(field))
        .unwrap_or(&Value::Null);
    assert!(
        value.is_null(),
        "expected no {field} in the response, got {}",
        serde_json::to_string_pretty(response).unwrap_or_default()
    );
}

/// The nodes of a connection, in order.
pub fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The cursors of a connection, in order.
pub fn cursors(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["cursor"].as_str().expect("cursor").to_owned())
        .collect()
}

/// `field` (an Int) of every node of a connection.
pub fn ints(connection: &Value, field: &str) -> Vec<i64> {
    nodes(connection)
        .iter()
        .map(|n| {
            n[field]
                .as_i64()
                .unwrap_or_else(|| panic!("{field} missing in {n}"))
        })
        .collect()
}

/// A list of strings as a sorted Vec.
pub fn strings(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect();
    out.sort();
    out
}

/// A sorted Vec<String> from string literals.
pub fn sorted(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// A DateTime returned by the API: RFC 3339 in UTC ("...Z").
#[track_caller]
pub fn datetime(value: &Value) -> DateTime<Utc> {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a DateTime, got {value}"));
    assert!(s.ends_with('Z'), "DateTime {s} is not in UTC (...Z)");
    at(s)
}
