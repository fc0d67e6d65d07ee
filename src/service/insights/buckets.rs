//! A range cut into buckets at the local boundaries of an interval in an
//! IANA zone: local midnight for DAY, Monday for WEEK, the 1st for MONTH, the
//! full hour for HOUR. The range's start is rounded down to a boundary, so
//! DST days are 23 or 25 hours long; where a local midnight does not exist the
//! day starts at the first instant that does (as in `userSummary`).

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::service::tz::{day_start, parse_zone};
use crate::service::{Error, Result};

/// Most buckets one request may ask for: keeps every answer bounded.
pub const MAX_BUCKETS: usize = 1_000;

pub use crate::service::range::Interval;

/// The zone of a request: an IANA name, or else a whole-hour offset east of
/// UTC (Coder's `tz_offset`), which is the IANA zone `Etc/GMT-N` (POSIX signs
/// are inverted: `Etc/GMT-5` is UTC+5). Both at once is an error, naming
/// `offset_field`.
pub fn zone(
    name: Option<&str>,
    offset_hours: Option<i32>,
    name_field: &str,
    offset_field: &str,
) -> Result<Tz> {
    match (name, offset_hours) {
        (Some(_), Some(_)) => Err(Error::bad_input(
            offset_field,
            format!("give {name_field} or {offset_field}, not both"),
        )),
        (None, Some(hours)) if !(-12..=14).contains(&hours) => Err(Error::bad_input(
            offset_field,
            format!("{offset_field} must be whole hours from -12 to 14, got {hours}"),
        )),
        (None, Some(0)) => Ok(Tz::Etc__UTC),
        (None, Some(hours)) => format!("Etc/GMT{:+}", -hours)
            .parse::<Tz>()
            .map_err(|_| Error::bad_input(offset_field, format!("no zone for offset {hours}"))),
        (name, None) => parse_zone(name, name_field),
    }
}

/// Default range of a series: the 60 days before its end.
pub const DEFAULT_DAYS: i64 = 60;

/// What a series over time is asked with (`userStatusCounts`, `activeUsers`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeriesArgs<'a> {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub interval: Option<Interval>,
    pub time_zone: Option<&'a str>,
    pub tz_offset: Option<i32>,
}

/// A series' range, resolved and cut into buckets.
#[derive(Debug, Clone)]
pub struct Series {
    pub zone: Tz,
    pub interval: Interval,
    /// As asked (or `end` minus the default days).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub buckets: Vec<Bucket>,
}

impl Series {
    /// Checks the arguments (`timeZone`/`tzOffset`, `startDate` after
    /// `endDate`, too many buckets) and cuts the range: DAY buckets by
    /// default, `endDate` now and `startDate` `default_days` before it.
    pub fn resolve(args: &SeriesArgs<'_>, now: DateTime<Utc>, default_days: i64) -> Result<Self> {
        let zone = zone(args.time_zone, args.tz_offset, "timeZone", "tzOffset")?;
        let interval = args.interval.unwrap_or(Interval::Day);
        let end = args.end.unwrap_or(now);
        let start = args
            .start
            .unwrap_or_else(|| end - Duration::days(default_days));
        if start > end {
            return Err(Error::bad_input(
                "startDate",
                format!("startDate {start} is after endDate {end}"),
            ));
        }
        let buckets = buckets(start, end, interval, zone, "startDate")?;
        Ok(Self {
            zone,
            interval,
            start,
            end,
            buckets,
        })
    }
}

/// One bucket: the half-open interval `[start, end)`. The last bucket ends
/// just after the range's (inclusive) end instead of at the next boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The buckets covering `[start, end]` (both inclusive), the first beginning
/// at the boundary at or before `start`; BAD_USER_INPUT naming `range_field`
/// when there would be more than [`MAX_BUCKETS`].
pub fn buckets(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
    zone: Tz,
    range_field: &str,
) -> Result<Vec<Bucket>> {
    let stop = end + Duration::microseconds(1);
    let mut out = Vec::new();
    let mut at = floor(start, interval, zone);
    while at < stop {
        if out.len() == MAX_BUCKETS {
            return Err(Error::bad_input(
                range_field,
                format!(
                    "the range needs more than {MAX_BUCKETS} {} buckets: shorten it or use a longer interval",
                    interval.as_str()
                ),
            ));
        }
        let next = next(at, interval, zone);
        out.push(Bucket {
            start: at,
            end: next.min(stop),
        });
        at = next;
    }
    Ok(out)
}

/// The boundary at or before `at`.
pub fn floor(at: DateTime<Utc>, interval: Interval, zone: Tz) -> DateTime<Utc> {
    let date = at.with_timezone(&zone).date_naive();
    match interval {
        Interval::Hour => {
            // Offsets in use are whole quarter hours, so the last full local
            // hour is a few quarter-hour steps back (up to 90 minutes after a
            // half-hour DST change); odd historic offsets get the UTC hour.
            let quarter = at.duration_trunc(Duration::minutes(15)).unwrap_or(at);
            (0..8)
                .map(|k| quarter - Duration::minutes(15 * k))
                .find(|t| is_full_hour(*t, zone))
                .unwrap_or_else(|| at.duration_trunc(Duration::hours(1)).unwrap_or(at))
        }
        Interval::Day => day_start(zone, date),
        Interval::Week => day_start(
            zone,
            date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
        ),
        Interval::Month => day_start(zone, date.with_day(1).unwrap_or(date)),
    }
}

/// The boundary after the boundary `at`.
pub fn next(at: DateTime<Utc>, interval: Interval, zone: Tz) -> DateTime<Utc> {
    let date = at.with_timezone(&zone).date_naive();
    match interval {
        Interval::Hour => {
            let mut t = at;
            for _ in 0..8 {
                t += Duration::minutes(15);
                if is_full_hour(t, zone) {
                    return t;
                }
            }
            at + Duration::hours(1)
        }
        Interval::Day => day_start(zone, date + Duration::days(1)),
        Interval::Week => day_start(zone, date + Duration::days(7)),
        Interval::Month => day_start(zone, first_of_next_month(date)),
    }
}

fn is_full_hour(t: DateTime<Utc>, zone: Tz) -> bool {
    let local = t.with_timezone(&zone);
    local.minute() == 0 && local.second() == 0 && local.nanosecond() == 0
}

fn first_of_next_month(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn cut(start: &str, end: &str, interval: Interval, zone: Tz) -> Vec<Bucket> {
        buckets(at(start), at(end), interval, zone, "startDate").unwrap()
    }

    fn starts(b: &[Bucket]) -> Vec<String> {
        b.iter().map(|b| b.start.to_rfc3339()).collect()
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let berlin = tz("Europe/Berlin");
        let spring = cut(
            "2024-03-30T12:00:00Z",
            "2024-04-01T12:00:00Z",
            Interval::Day,
            berlin,
        );
        assert_eq!(
            starts(&spring),
            [
                "2024-03-29T23:00:00+00:00",
                "2024-03-30T23:00:00+00:00",
                "2024-03-31T22:00:00+00:00"
            ]
        );
        assert_eq!((spring[1].end - spring[1].start).num_hours(), 23);
        assert_eq!(spring[2].end, at("2024-04-01T12:00:00.000001Z"));
        let ny = tz("America/New_York");
        let fall = cut(
            "2024-11-03T04:00:00Z",
            "2024-11-04T05:00:00Z",
            Interval::Day,
            ny,
        );
        assert_eq!((fall[0].end - fall[0].start).num_hours(), 25);
        assert_eq!(fall.len(), 2);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let kolkata = tz("Asia/Kolkata");
        let weeks = cut(
            "2024-05-01T00:00:00Z",
            "2024-05-14T00:00:00Z",
            Interval::Week,
            kolkata,
        );
        assert_eq!(
            starts(&weeks),
            [
                "2024-04-28T18:30:00+00:00",
                "2024-05-05T18:30:00+00:00",
                "2024-05-12T18:30:00+00:00"
            ]
        );
        let months = cut(
            "2024-12-15T00:00:00Z",
            "2025-02-01T04:00:00Z",
            Interval::Month,
            tz("America/St_Johns"),
        );
        assert_eq!(
            starts(&months),
            [
                "2024-12-01T03:30:00+00:00",
                "2025-01-01T03:30:00+00:00",
                "2025-02-01T03:30:00+00:00"
            ]
        );
        assert_eq!(months.len(), 3);
    }

    #[test]
    fn hours_follow_the_local_clock() {
        let kathmandu = tz("Asia/Kathmandu");
        let hours = cut(
            "2024-05-01T00:20:00Z",
            "2024-05-01T02:00:00Z",
            Interval::Hour,
            kathmandu,
        );
        assert_eq!(
            starts(&hours),
            ["2024-05-01T00:15:00+00:00", "2024-05-01T01:15:00+00:00"]
        );
        // 2024-03-10 in New York: 01:00 EST is followed by 03:00 EDT.
        let ny = tz("America/New_York");
        let gap = cut(
            "2024-03-10T06:00:00Z",
            "2024-03-10T07:30:00Z",
            Interval::Hour,
            ny,
        );
        assert_eq!(
            starts(&gap),
            ["2024-03-10T06:00:00+00:00", "2024-03-10T07:00:00+00:00"]
        );
    }

    #[test]
    fn a_day_without_midnight_starts_at_its_first_instant() {
        // 2024-09-08 in Santiago: 00:00 -04 became 01:00 -03.
        let days = cut(
            "2024-09-07T12:00:00Z",
            "2024-09-08T12:00:00Z",
            Interval::Day,
            tz("America/Santiago"),
        );
        assert_eq!(
            starts(&days),
            ["2024-09-07T04:00:00+00:00", "2024-09-08T04:00:00+00:00"]
        );
        assert_eq!((days[0].end - days[0].start).num_hours(), 24);
        // Lord Howe moves its clocks by half an hour: 02:00 became 02:30,
        // so the local hour from 01:00 lasts 90 minutes.
        let hours = cut(
            "2024-10-05T14:00:00Z",
            "2024-10-05T16:00:00Z",
            Interval::Hour,
            tz("Australia/Lord_Howe"),
        );
        assert_eq!(
            starts(&hours),
            [
                "2024-10-05T13:30:00+00:00",
                "2024-10-05T14:30:00+00:00",
                "2024-10-05T16:00:00+00:00"
            ]
        );
        assert_eq!((hours[1].end - hours[1].start).num_minutes(), 90);
    }

    #[test]
    fn ranges_and_zones_are_checked() {
        let utc = Tz::UTC;
        let year = buckets(
            at("2024-01-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
            Interval::Day,
            utc,
            "startDate",
        );
        assert!(matches!(year, Err(Error::BadInput { field, .. }) if field == "startDate"));
        let one = cut(
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            Interval::Day,
            utc,
        );
        assert_eq!(one.len(), 1);
        assert_eq!(
            zone(None, Some(5), "timeZone", "tzOffset").unwrap().name(),
            "Etc/GMT-5"
        );
        assert_eq!(
            zone(None, Some(-12), "timeZone", "tzOffset")
                .unwrap()
                .name(),
            "Etc/GMT+12"
        );
        assert!(zone(None, Some(15), "timeZone", "tzOffset").is_err());
        assert!(zone(Some("UTC"), Some(1), "timeZone", "tzOffset").is_err());
        assert!(zone(Some("Mars/Olympus"), None, "timeZone", "tzOffset").is_err());
    }
}
