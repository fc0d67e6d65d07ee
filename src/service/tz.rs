//! Time zones: IANA names, and local calendar days as UTC instants.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Error, Result};

/// An IANA zone name (default UTC), or BAD_USER_INPUT naming `field`.
pub fn parse_zone(name: Option<&str>, field: &str) -> Result<Tz> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name
            .trim()
            .parse::<Tz>()
            .map_err(|_| Error::bad_input(field, format!("unknown time zone '{name}'"))),
    }
}

/// The instant a local calendar day starts in `zone`. Where midnight does not
/// exist (a DST gap), the day starts at the first instant that does.
pub fn day_start(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut local = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..48 {
        if let Some(at) = zone.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    local.and_utc()
}

/// Today's date in `zone`.
pub fn today(zone: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_local_midnight_even_across_dst() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2024, 3, 10).unwrap();
        assert_eq!(day_start(ny, d).to_rfc3339(), "2024-03-10T05:00:00+00:00");
        let next = d.succ_opt().unwrap();
        // 2024-03-10 had 23 hours in New York.
        assert_eq!((day_start(ny, next) - day_start(ny, d)).num_hours(), 23);
        // Midnight did not exist in Santiago on 2024-09-08: the day starts at 01:00.
        let scl: Tz = "America/Santiago".parse().unwrap();
        let gap = NaiveDate::from_ymd_opt(2024, 9, 8).unwrap();
        assert_eq!(
            day_start(scl, gap).to_rfc3339(),
            "2024-09-08T04:00:00+00:00"
        );
        assert!(parse_zone(Some("Mars/Olympus"), "timeZone").is_err());
        assert_eq!(parse_zone(None, "timeZone").unwrap(), Tz::UTC);
    }
}
