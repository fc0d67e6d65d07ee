//! The contract's scalars. DateTime is RFC 3339, always returned in UTC
//! ("...Z"), and also accepts a bare date as input (midnight UTC).

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// An instant (GraphQL `DateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

#[Scalar(name = "DateTime")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        parse_datetime(s).map(Timestamp).ok_or_else(|| {
            InputValueError::custom(format!(
                "'{s}' is not an RFC 3339 date-time or a YYYY-MM-DD date"
            ))
        })
    }

    /// Checked during validation too, so a bad literal or variable is
    /// reported with the argument's name (`Invalid value for argument "x"`).
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_datetime(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_rfc3339())
    }
}

impl Timestamp {
    /// How the scalar is written: RFC 3339 in UTC (`Z`), with as many
    /// fractional digits as it has (none, 3, 6 or 9).
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

/// A calendar date (GraphQL `Date`, YYYY-MM-DD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Day {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Day)
            .map_err(|_| InputValueError::custom(format!("'{s}' is not a YYYY-MM-DD date")))
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Arbitrary JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub serde_json::Value);

#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(Json)
            .map_err(|e| InputValueError::custom(e.to_string()))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_accept_offsets_and_bare_dates_and_print_utc() {
        let at = parse_datetime("2024-05-01T02:00:00+02:00").unwrap();
        assert_eq!(
            Timestamp(at).to_value(),
            Value::String("2024-05-01T00:00:00Z".into())
        );
        assert_eq!(parse_datetime("2024-05-01"), Some(at));
        assert_eq!(parse_datetime("yesterday"), None);
        assert!(Timestamp::parse(Value::String("2024-13-01".into())).is_err());
    }
}

/// Bucket sizes of series over time (`apiRequestStats`, `userStatusCounts`).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::service::range::Interval")]
pub enum Interval {
    Hour,
    Day,
    Week,
    Month,
}
