//! The contract's scalars. DateTime is RFC 3339, always returned in UTC
//! ("...Z"), and also accepts a bare date as input (midnight UTC).

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};

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

    /// [`Timestamp::to_rfc3339`] without allocating, for writing a great
    /// many (reports); years outside 0..=9999 (written with a sign) and leap
    /// seconds are left to chrono.
    pub fn rfc3339_text(self) -> TimestampText {
        let (date, time) = (self.0.date_naive(), self.0.time());
        let nano = time.nanosecond();
        if !(0..=9999).contains(&date.year()) || nano >= 1_000_000_000 {
            return TimestampText::Other(self.to_rfc3339());
        }
        let mut text = Digits::default();
        text.number(date.year() as u32, 4);
        text.byte(b'-');
        text.number(date.month(), 2);
        text.byte(b'-');
        text.number(date.day(), 2);
        text.byte(b'T');
        text.number(time.hour(), 2);
        text.byte(b':');
        text.number(time.minute(), 2);
        text.byte(b':');
        text.number(time.second(), 2);
        // As chrono's AutoSi: no fraction, or 3, 6 or 9 digits.
        if nano != 0 {
            text.byte(b'.');
            if nano % 1_000_000 == 0 {
                text.number(nano / 1_000_000, 3);
            } else if nano % 1_000 == 0 {
                text.number(nano / 1_000, 6);
            } else {
                text.number(nano, 9);
            }
        }
        text.byte(b'Z');
        TimestampText::Short(text)
    }
}

/// A timestamp as the scalar writes it: on the stack when it can be.
pub enum TimestampText {
    Short(Digits),
    Other(String),
}

impl TimestampText {
    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators are written.
            TimestampText::Short(digits) => {
                std::str::from_utf8(&digits.text[..digits.len]).unwrap_or_default()
            }
            TimestampText::Other(text) => text,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` at most.
#[derive(Default)]
pub struct Digits {
    text: [u8; 30],
    len: usize,
}

impl Digits {
    fn byte(&mut self, b: u8) {
        self.text[self.len] = b;
        self.len += 1;
    }

    /// `value`'s last `width` digits, zero-padded.
    fn number(&mut self, mut value: u32, width: usize) {
        for i in (0..width).rev() {
            self.text[self.len + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
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

    fn both_ways(at: DateTime<Utc>) {
        let at = Timestamp(at);
        assert_eq!(at.rfc3339_text().as_str(), at.to_rfc3339(), "{:?}", at.0);
    }

    #[test]
    fn the_text_on_the_stack_is_chronos_at_every_precision_and_edge() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        for text in [
            "2024-05-01T00:00:00Z",
            "2024-05-01T23:59:59.5Z",
            "2024-05-01T23:59:59.000001Z",
            "2024-05-01T23:59:59.123456789Z",
            "2024-05-01T23:59:59.000000001Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "1969-12-31T23:59:59.9Z",
        ] {
            both_ways(at(text));
        }
        // Left to chrono: a year past 9999, before 0, a leap second.
        both_ways(DateTime::<Utc>::MAX_UTC);
        both_ways(DateTime::<Utc>::MIN_UTC);
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap();
        both_ways(leap.and_utc());
    }

    proptest::proptest! {
        #[test]
        fn the_text_on_the_stack_is_chronos(
            micros in -62_135_596_800_000_000i64..253_402_300_800_000_000,
            nanos in 0u32..1000,
            whole in 0u8..4,
        ) {
            // Whole seconds, milliseconds, microseconds (as stored), nanoseconds.
            let micros = match whole {
                0 => micros - micros.rem_euclid(1_000_000),
                1 => micros - micros.rem_euclid(1_000),
                _ => micros,
            };
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let at = if whole == 3 {
                at + chrono::Duration::nanoseconds(nanos.into())
            } else {
                at
            };
            both_ways(at);
        }
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
