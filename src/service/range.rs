//! Time ranges of the logs (ThousandEyes' activity log): a `window` up to
//! now, or `startDate`/`endDate`, never both; half-open, resolved once so the
//! answer can echo what was read.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};

use super::{Error, Result};

/// The range when neither a window nor dates are given: the last 24 hours.
pub const DEFAULT_SPAN: Duration = Duration::hours(24);

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct RangeArgs {
    /// `^\d+[smhdw]?$`: a number of seconds, minutes, hours, days or weeks
    /// (no unit: seconds), ending now.
    pub window: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// `[start, end)`, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl RangeArgs {
    /// Resolves the range at `now`. A window with a date, a malformed window
    /// and a start after the end are BAD_USER_INPUT naming the argument.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<TimeRange> {
        if let Some(window) = &self.window {
            let clash = if self.start.is_some() {
                Some("startDate")
            } else if self.end.is_some() {
                Some("endDate")
            } else {
                None
            };
            if let Some(field) = clash {
                return Err(Error::bad_input(
                    field,
                    format!("{field} cannot be combined with window; pass one or the other"),
                ));
            }
            let span = parse_window(window)?;
            let start = now
                .checked_sub_signed(span)
                .ok_or_else(|| window_error(window, "reaches before any representable date"))?;
            return Ok(TimeRange { start, end: now });
        }
        let end = self.end.unwrap_or(now);
        let start = match self.start {
            Some(start) => start,
            None => end
                .checked_sub_signed(DEFAULT_SPAN)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        if start > end {
            return Err(Error::bad_input(
                "startDate",
                format!("startDate {start} is after endDate {end}"),
            ));
        }
        Ok(TimeRange { start, end })
    }
}

/// Bucket sizes of series over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    /// Starting on Mondays.
    Week,
    /// Starting on the 1st.
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "HOUR",
            Self::Day => "DAY",
            Self::Week => "WEEK",
            Self::Month => "MONTH",
        }
    }

    /// The start of the UTC bucket holding `at`.
    pub fn floor_utc(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let start: NaiveDate = match self {
            Interval::Hour => {
                let hour = at.with_nanosecond(0).unwrap_or(at);
                return hour - Duration::seconds(i64::from(hour.minute() * 60 + hour.second()));
            }
            Interval::Day => day,
            Interval::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Interval::Month => day.with_day(1).unwrap_or(day),
        };
        start.and_time(chrono::NaiveTime::MIN).and_utc()
    }
}

fn window_error(window: &str, why: &str) -> Error {
    Error::bad_input(
        "window",
        format!(
            "window '{window}' {why}; give a whole number followed by an optional unit \
             s, m, h, d or w (e.g. 12h, 7d, 90)"
        ),
    )
}

/// Parses `^\d+[smhdw]?$` (no unit: seconds) into a duration.
pub fn parse_window(window: &str) -> Result<Duration> {
    let (digits, unit_secs) = match window.char_indices().last() {
        None => return Err(window_error(window, "is empty")),
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let secs = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(window_error(window, "has an unknown unit")),
            };
            (&window[..i], secs)
        }
        Some(_) => (window, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(window_error(window, "is not a whole number of a unit"));
    }
    let count: i64 = digits
        .parse()
        .map_err(|_| window_error(window, "is too large"))?;
    count
        .checked_mul(unit_secs)
        .and_then(Duration::try_seconds)
        .ok_or_else(|| window_error(window, "is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2025-01-15T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn windows_follow_the_grammar() {
        assert_eq!(parse_window("90").unwrap(), Duration::seconds(90));
        assert_eq!(parse_window("0").unwrap(), Duration::zero());
        assert_eq!(parse_window("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_window("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_window("2w").unwrap(), Duration::weeks(2));
        assert_eq!(parse_window("5m").unwrap(), Duration::minutes(5));
        assert_eq!(parse_window("30s").unwrap(), Duration::seconds(30));
        for bad in [
            "",
            " ",
            "h",
            "-1",
            "-1h",
            "1.5h",
            "1 h",
            " 1h",
            "1h ",
            "1H",
            "1y",
            "+1",
            "99999999999999999999",
            "9223372036854775807w",
            "१२",
        ] {
            let err = parse_window(bad).unwrap_err();
            assert!(
                matches!(&err, Error::BadInput { field, .. } if field == "window"),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn utc_buckets_start_at_their_boundaries() {
        let at: DateTime<Utc> = "2025-01-15T09:41:12.5Z".parse().unwrap();
        let floor = |i: Interval| i.floor_utc(at).to_rfc3339();
        assert_eq!(floor(Interval::Hour), "2025-01-15T09:00:00+00:00");
        assert_eq!(floor(Interval::Day), "2025-01-15T00:00:00+00:00");
        assert_eq!(floor(Interval::Week), "2025-01-13T00:00:00+00:00");
        assert_eq!(floor(Interval::Month), "2025-01-01T00:00:00+00:00");
    }

    #[test]
    fn ranges_default_and_refuse_mixtures() {
        let args = RangeArgs::default();
        assert_eq!(
            args.resolve(now()).unwrap(),
            TimeRange {
                start: now() - DEFAULT_SPAN,
                end: now()
            }
        );
        let start = now() - Duration::days(3);
        let only_start = RangeArgs {
            start: Some(start),
            ..Default::default()
        };
        assert_eq!(only_start.resolve(now()).unwrap().end, now());
        let mixed = RangeArgs {
            window: Some("1h".into()),
            end: Some(now()),
            ..Default::default()
        };
        assert!(
            matches!(mixed.resolve(now()), Err(Error::BadInput { field, .. }) if field == "endDate")
        );
        let backwards = RangeArgs {
            start: Some(now()),
            end: Some(start),
            ..Default::default()
        };
        assert!(
            matches!(backwards.resolve(now()), Err(Error::BadInput { field, .. }) if field == "startDate")
        );
        let too_far = RangeArgs {
            window: Some("9999999999999w".into()),
            ..Default::default()
        };
        assert!(
            matches!(too_far.resolve(now()), Err(Error::BadInput { field, .. }) if field == "window")
        );
    }
}
