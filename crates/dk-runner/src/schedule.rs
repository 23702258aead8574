//! The nominal time of a scheduled run: the latest time its cron schedule fires not after the
//! run's start, in the schedule's timezone.
//!
//! A Kubernetes CronJob cannot hand its scheduled time to the pod (the downward API does not
//! read the Job's `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation), so `dk run`
//! works it out from the same schedule and timezone the chart gives the CronJob.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The timezone of a schedule that names none, as in the chart's values.
pub const DEFAULT_TIMEZONE: &str = "Etc/UTC";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cron `{cron}` does not parse: {reason}")]
    Cron { cron: String, reason: String },
    #[error("`{0}` is not an IANA timezone")]
    Timezone(String),
    #[error("cron `{cron}` never fires at or before {start}")]
    NeverFired { cron: String, start: DateTime<Utc> },
}

/// A cron schedule in a timezone, as a Kubernetes CronJob reads it: five fields (minute, hour,
/// day of month, month, day of week) or a macro such as `@hourly`, `@daily`, `@weekly`.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
    timezone: Tz,
}

impl Schedule {
    /// `timezone` is an IANA name; `None` is [`DEFAULT_TIMEZONE`].
    pub fn new(cron: &str, timezone: Option<&str>) -> Result<Schedule, ScheduleError> {
        // Kubernetes (robfig/cron's standard parser) takes five fields, no seconds or years;
        // day of month and day of week match when either does, as in Vixie cron.
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        // robfig/cron's `@midnight` is croner's `@daily`.
        let pattern = match cron.trim() {
            midnight if midnight.eq_ignore_ascii_case("@midnight") => "@daily",
            other => other,
        };
        let parsed = parser.parse(pattern).map_err(|err| ScheduleError::Cron {
            cron: cron.to_owned(),
            reason: err.to_string(),
        })?;
        let name = timezone.unwrap_or(DEFAULT_TIMEZONE);
        let timezone = Tz::from_str(name).map_err(|_| ScheduleError::Timezone(name.to_owned()))?;
        Ok(Schedule {
            cron: parsed,
            text: cron.to_owned(),
            timezone,
        })
    }

    /// The latest time the schedule fires at or before `start`. A wall-clock time that a
    /// daylight-saving change skips fires at the first instant after the gap; one it repeats
    /// fires once (croner follows the Open Cron Pattern Specification).
    pub fn nominal_time(&self, start: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
        let local = start.with_timezone(&self.timezone);
        self.cron
            .find_previous_occurrence(&local, true)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| ScheduleError::NeverFired {
                cron: self.text.clone(),
                start,
            })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn nominal(cron: &str, timezone: Option<&str>, start: &str) -> String {
        Schedule::new(cron, timezone)
            .unwrap()
            .nominal_time(utc(start))
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn the_latest_firing_not_after_the_start() {
        // A pod starts a few seconds after its schedule fired.
        assert_eq!(
            nominal("0 2 * * *", None, "2026-11-26T02:00:07Z"),
            "2026-11-26T02:00:00Z"
        );
        // Exactly at the firing: that firing, not the one before.
        assert_eq!(
            nominal("*/15 * * * *", None, "2026-11-26T10:30:00Z"),
            "2026-11-26T10:30:00Z"
        );
        // `dk promote` writes `UTC` when the Transform names no timezone.
        assert_eq!(
            nominal("*/15 * * * *", Some("UTC"), "2026-11-26T10:44:59Z"),
            "2026-11-26T10:30:00Z"
        );
        // Day of week and day of month, Kubernetes' five fields: Mondays at 06:30.
        assert_eq!(
            nominal("30 6 * * 1", None, "2026-11-26T12:00:00Z"),
            "2026-11-23T06:30:00Z"
        );
        assert_eq!(
            nominal("0 0 1 * *", None, "2026-03-01T00:00:01Z"),
            "2026-03-01T00:00:00Z"
        );
    }

    #[test]
    fn macros() {
        assert_eq!(
            nominal("@hourly", None, "2026-11-26T10:59:00Z"),
            "2026-11-26T10:00:00Z"
        );
        assert_eq!(
            nominal("@daily", Some("America/New_York"), "2026-11-26T10:00:00Z"),
            "2026-11-26T05:00:00Z"
        );
        assert_eq!(
            nominal("@weekly", None, "2026-11-26T10:00:00Z"),
            "2026-11-22T00:00:00Z"
        );
        assert_eq!(
            nominal("@monthly", None, "2026-11-26T10:00:00Z"),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            nominal("@midnight", None, "2026-11-26T10:00:00Z"),
            "2026-11-26T00:00:00Z"
        );
        assert_eq!(
            nominal("@annually", None, "2026-11-26T10:00:00Z"),
            "2026-01-01T00:00:00Z"
        );
        // `?` for "any", as Kubernetes accepts it.
        assert_eq!(
            nominal("0 2 ? * *", None, "2026-11-26T10:00:00Z"),
            "2026-11-26T02:00:00Z"
        );
    }

    #[test]
    fn the_timezone_decides_the_instant_across_daylight_saving() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            nominal("0 9 * * *", Some("Europe/Berlin"), "2026-03-28T12:00:00Z"),
            "2026-03-28T08:00:00Z"
        );
        assert_eq!(
            nominal("0 9 * * *", Some("Europe/Berlin"), "2026-03-30T12:00:00Z"),
            "2026-03-30T07:00:00Z"
        );
        // Spring forward (2026-03-29, 02:00 → 03:00 CEST): 02:30 does not exist that day and
        // fires at the first instant after the gap, 03:00 CEST = 01:00 UTC.
        assert_eq!(
            nominal("30 2 * * *", Some("Europe/Berlin"), "2026-03-29T01:10:00Z"),
            "2026-03-29T01:00:00Z"
        );
        // Fall back (2026-10-25, 03:00 CEST → 02:00 CET): 02:30 happens twice and fires once,
        // at its first occurrence (02:30 CEST = 00:30 UTC), so a start in the repeated hour
        // still finds it.
        assert_eq!(
            nominal("30 2 * * *", Some("Europe/Berlin"), "2026-10-25T01:45:00Z"),
            "2026-10-25T00:30:00Z"
        );
        // An hourly schedule across the repeated hour: the second 02:00 (CET) is 01:00 UTC.
        assert_eq!(
            nominal("0 * * * *", Some("Europe/Berlin"), "2026-10-25T01:30:00Z"),
            "2026-10-25T01:00:00Z"
        );
        assert_eq!(
            Schedule::new("0 9 * * *", Some("Europe/Berlin"))
                .unwrap()
                .nominal_time(Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap())
                .unwrap(),
            Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_expressions_and_timezones_are_refused() {
        for bad in [
            "",
            "not a cron",
            "61 * * * *",
            "0 2 * *",
            "0 0 2 * * *",
            "0 0 2 * * * 2026",
        ] {
            let err = Schedule::new(bad, None).unwrap_err();
            assert!(matches!(err, ScheduleError::Cron { .. }), "{bad}: {err:?}");
        }
        let err = Schedule::new("0 2 * * *", Some("Mars/Olympus")).unwrap_err();
        assert_eq!(err.to_string(), "`Mars/Olympus` is not an IANA timezone");
        assert_eq!(
            Schedule::new("0 2 * * *", Some("CEST")).unwrap_err(),
            ScheduleError::Timezone("CEST".into())
        );
    }
}
