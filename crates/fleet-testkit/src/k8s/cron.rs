//! Five-field cron schedules as CronJobs take them (minute, hour, day of month, month, day of
//! week; `*`, lists, ranges, steps, month and day names, and the `@hourly` / `@daily` /
//! `@midnight` / `@weekly` / `@monthly` / `@yearly` / `@annually` macros), evaluated in a time
//! zone. As in the cron library Kubernetes uses, when both day fields are restricted a day
//! matches either; a field written with `*` (also `*/n`) counts as unrestricted.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_star: bool,
    weekdays_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Parses one field into a bit set over `min..=max`; the flag says it began with `*`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + i as u32);
        }
        s.parse::<u32>()
            .map_err(|_| format!("failed to parse int from {s}"))
    };
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("failed to parse step from {part}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star = true;
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `n/step` means from n to the end of the range.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min {
            return Err(format!(
                "beginning of range ({lo}) below minimum ({min}): {text}"
            ));
        }
        if hi > max {
            return Err(format!("end of range ({hi}) above maximum ({max}): {text}"));
        }
        if lo > hi {
            return Err(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {text}"
            ));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl Schedule {
    /// Parses a schedule; the error says what is wrong, as the server's validation does.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
        }
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!("unrecognized descriptor: {other}"));
            }
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                parts.len()
            ));
        }
        let (minutes, _) = field(parts[0], 0, 59, &[])?;
        let (hours, _) = field(parts[1], 0, 23, &[])?;
        let (days, days_star) = field(parts[2], 1, 31, &[])?;
        let (months, _) = field(parts[3], 1, 12, &MONTHS)?;
        let (weekdays, weekdays_star) = field(parts[4], 0, 6, &WEEKDAYS)?;
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_star,
            weekdays_star,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled time strictly after `t`, in time zone `tz`; `None` when there is
    /// none in the next eight years (a day that never comes, such as 30 February).
    pub(crate) fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(t);
        let mut day = start.date();
        for _ in 0..(366 * 8) {
            if self.day_matches(day) {
                for h in 0..24i8 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    for m in 0..60i8 {
                        if self.minutes & (1 << m) == 0 {
                            continue;
                        }
                        let civil: DateTime = day.at(h, m, 0, 0);
                        // A time that does not exist (a DST gap) runs at the moment after
                        // the gap; one that exists twice runs at the first.
                        let Ok(z) = tz.to_zoned_datetime(civil) else {
                            continue;
                        };
                        let at = z.timestamp();
                        if at > t {
                            return Some(at);
                        }
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn nightly_backup_in_utc_and_in_a_zone() {
        let s = Schedule::parse("0 2 * * *").expect("parses");
        let utc = TimeZone::UTC;
        assert_eq!(
            s.next_after(ts("2026-11-27T10:00:00Z"), &utc),
            Some(ts("2026-11-28T02:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-11-28T01:59:59Z"), &utc),
            Some(ts("2026-11-28T02:00:00Z"))
        );
        // 02:00 in Amsterdam is 01:00 UTC in winter.
        let ams = TimeZone::get("Europe/Amsterdam").expect("zone");
        assert_eq!(
            s.next_after(ts("2026-11-27T10:00:00Z"), &ams),
            Some(ts("2026-11-28T01:00:00Z"))
        );
        // On the spring-forward night 02:00 does not exist: the run is at 03:00 local.
        assert_eq!(
            s.next_after(ts("2026-03-28T12:00:00Z"), &ams),
            Some(ts("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn fields_lists_ranges_steps_names_and_macros() {
        let utc = TimeZone::UTC;
        let s = Schedule::parse("*/15 9-17 * * MON-FRI").expect("parses");
        // Friday 2026-11-27 17:50 -> Monday 09:00.
        assert_eq!(
            s.next_after(ts("2026-11-27T17:50:00Z"), &utc),
            Some(ts("2026-11-30T09:00:00Z"))
        );
        let both = Schedule::parse("0 0 1 * SUN").expect("parses");
        // Either the 1st or a Sunday: after Friday 27 Nov comes Sunday 29 Nov.
        assert_eq!(
            both.next_after(ts("2026-11-27T12:00:00Z"), &utc),
            Some(ts("2026-11-29T00:00:00Z"))
        );
        assert_eq!(Schedule::parse("@daily"), Schedule::parse("0 0 * * *"));
        assert_eq!(Schedule::parse("0 0 1 jan *"), Schedule::parse("@yearly"));
        assert!(Schedule::parse("0 2 * *").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("* * * * 7").is_err());
        assert!(Schedule::parse("TZ=UTC 0 2 * * *").is_err());
        assert!(Schedule::parse("@every 1h").is_err());
        let never = Schedule::parse("0 0 30 2 *").expect("parses");
        assert_eq!(never.next_after(ts("2026-01-01T00:00:00Z"), &utc), None);
    }
}
