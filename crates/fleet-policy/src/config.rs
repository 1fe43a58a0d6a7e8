//! The [`Policy`]: every number, duration, zone and role the rules use.
//!
//! `Policy::default()` is exactly the runbook as read in `docs/decisions.md`. A policy file is TOML
//! with the same structure; any table or key may be left out and keeps its default. Unknown
//! keys and bad values (a negative threshold, `low > high`, an unknown time zone, `min`
//! replicas above `max`) are rejected with the line and column of the offending value.
//!
//! ```
//! let policy = fleet_policy::Policy::from_toml_str(
//!     r#"
//!     [rollback]
//!     error_rate_percent = 2.5
//!
//!     [deploy]
//!     duration = "3h"
//!     "#,
//! )?;
//! assert_eq!(policy.rollback.error_rate_percent, 2.5);
//! assert_eq!(policy.rollback.min_requests, 100); // untouched defaults stay
//! # Ok::<(), fleet_policy::Error>(())
//! ```

use std::fmt;

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::waiver::Waiver;

/// The whole policy. See the [module docs](self) for the file format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Bands of the "Key Metrics to Monitor" table.
    pub metrics: MetricsPolicy,
    /// "When to Rollback".
    pub rollback: RollbackPolicy,
    /// Severity levels, the P0/P1 checklist clock and the escalation chain.
    pub incident: IncidentPolicy,
    /// Deployment windows, hotfixes, freezes.
    pub deploy: DeployPolicy,
    /// Horizontal and vertical scaling.
    pub scaling: ScalingPolicy,
    /// Backups, retention, RPO and RTO.
    pub backup: BackupPolicy,
    /// Alert response.
    pub alerts: AlertPolicy,
    /// Runbook reviews.
    pub review: ReviewPolicy,
    /// How outcomes gate a pipeline.
    pub gate: GatePolicy,
    /// Limits on waivers.
    pub waivers: WaiverPolicy,
    /// The waivers themselves (`[[waiver]]` entries).
    #[serde(rename = "waiver", skip_serializing_if = "Vec::is_empty")]
    pub waiver: Vec<Waiver>,
}

impl Policy {
    /// Parses a policy file. Missing tables and keys keep their defaults.
    ///
    /// # Errors
    /// [`Error::Config`] with the line and column of the first unknown key or bad value.
    pub fn from_toml_str(text: &str) -> Result<Policy, Error> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((0, 0));
            Error::Config {
                message: e.message().to_owned(),
                line,
                column,
            }
        })
    }

    /// Parses a policy file given as bytes (it must be UTF-8).
    ///
    /// # Errors
    /// As [`Policy::from_toml_str`], plus [`Error::Config`] for invalid UTF-8 (with the position
    /// of the first bad byte).
    pub fn from_toml_bytes(bytes: &[u8]) -> Result<Policy, Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Policy::from_toml_str(text),
            Err(e) => {
                let (line, column) = line_column_bytes(bytes, e.valid_up_to());
                Err(Error::Config {
                    message: "the policy file is not valid UTF-8".into(),
                    line,
                    column,
                })
            }
        }
    }

    /// The policy as TOML (round-trips through [`Policy::from_toml_str`]).
    pub fn to_toml_string(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn line_column_bytes(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

// ---------------------------------------------------------------------------------------------
// Small validated value types.

/// A half-open band of the monitoring table: Normal is `value < low`, Warning is
/// `low <= value <= high`, Critical is `value > high`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBand")]
pub struct Band {
    low: f64,
    high: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    low: f64,
    high: f64,
}

impl TryFrom<RawBand> for Band {
    type Error = String;
    fn try_from(raw: RawBand) -> Result<Band, String> {
        Band::new(raw.low, raw.high)
    }
}

impl Band {
    /// A band from its two bounds.
    ///
    /// # Errors
    /// A message when a bound is negative or not finite, or `low > high`.
    pub fn new(low: f64, high: f64) -> Result<Band, String> {
        if !(low.is_finite() && high.is_finite()) || low < 0.0 || high < 0.0 {
            return Err(format!(
                "band bounds must be finite and >= 0 (low = {low}, high = {high})"
            ));
        }
        if low > high {
            return Err(format!("band low ({low}) is above high ({high})"));
        }
        Ok(Band { low, high })
    }

    /// Lower bound: the first Warning value.
    pub fn low(&self) -> f64 {
        self.low
    }

    /// Upper bound: the last Warning value.
    pub fn high(&self) -> f64 {
        self.high
    }
}

/// A named time zone: an IANA name (`America/New_York`) or a fixed offset (`-05:00`).
///
/// Zones are looked up in the time-zone database bundled into the binary, so a policy means the
/// same thing on every machine whatever its system tzdata.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Looks a zone up by IANA name, or parses a fixed offset such as `-05:00` or `+01`.
    ///
    /// # Errors
    /// A message naming the zone when it is unknown.
    pub fn new(name: &str) -> Result<Zone, String> {
        let tz = if name.starts_with(['+', '-']) {
            parse_offset(name).map(TimeZone::fixed)?
        } else {
            crate::tzdb()
                .get(name)
                .map_err(|e| format!("unknown time zone `{name}`: {e}"))?
        };
        Ok(Zone {
            name: name.to_owned(),
            tz,
        })
    }

    /// `America/New_York`.
    pub fn new_york() -> Zone {
        Zone::new("America/New_York").unwrap_or_else(|_| Zone::utc())
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's rules.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether the name is an abbreviation or legacy name (`EST`, `EST5EDT`) rather than an
    /// IANA `Area/Location` name or an explicit offset: such names hide whether daylight
    /// saving applies, so the policy lints them.
    pub fn is_abbreviation(&self) -> bool {
        !self.name.contains('/') && !self.name.starts_with(['+', '-']) && self.name != "UTC"
    }
}

fn parse_offset(s: &str) -> Result<Offset, String> {
    let bad = || format!("bad UTC offset `{s}` (expected e.g. -05:00)");
    let sign: i32 = if s.starts_with('-') { -1 } else { 1 };
    let rest = &s[1..];
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None => (rest, "0"),
    };
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=25).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).map_err(|_| bad())
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(d)?;
        Zone::new(&name).map_err(serde::de::Error::custom)
    }
}

/// A day of the week, written in full and lower case in policy files (`"thursday"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the names say it all
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    /// The jiff weekday.
    pub fn weekday(self) -> jiff::civil::Weekday {
        use jiff::civil::Weekday as W;
        match self {
            Day::Monday => W::Monday,
            Day::Tuesday => W::Tuesday,
            Day::Wednesday => W::Wednesday,
            Day::Thursday => W::Thursday,
            Day::Friday => W::Friday,
            Day::Saturday => W::Saturday,
            Day::Sunday => W::Sunday,
        }
    }
}

/// Durations in policy files are friendly strings (`"5m"`, `"1h 30m"`, `"48h"`) or ISO 8601
/// (`"PT5M"`); they must be positive.
pub(crate) mod duration {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{d:#}"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        let v = SignedDuration::deserialize(d)?;
        if v.is_positive() {
            Ok(v)
        } else {
            Err(serde::de::Error::custom(format!(
                "duration must be positive, got {v:#}"
            )))
        }
    }
}

/// Thresholds and ratios in policy files are finite and not negative: a `nan` threshold would
/// make every comparison false (a rollback that never triggers), so it is refused.
pub(crate) mod threshold {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a finite number, 0 or more (got {v})"
            )))
        }
    }
}

/// Formats a duration the way policy files write it (`5m`, `1h 30m`).
pub(crate) fn fmt_duration(d: SignedDuration) -> String {
    format!("{d:#}")
}

// ---------------------------------------------------------------------------------------------
// Sections.

/// Bands for the six metrics of the "Key Metrics to Monitor" table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsPolicy {
    /// p95 response time, milliseconds: 500 / 1000.
    pub response_time_ms: Band,
    /// Error rate, percent of requests: 0.1 / 1.
    pub error_rate_percent: Band,
    /// CPU usage, percent: 70 / 85.
    pub cpu_percent: Band,
    /// Memory usage, percent: 80 / 90.
    pub memory_percent: Band,
    /// Database connections, a count of server connections: 50 / 80.
    pub db_connections: Band,
    /// Disk usage, percent: 70 / 85.
    pub disk_percent: Band,
}

impl Default for MetricsPolicy {
    fn default() -> Self {
        MetricsPolicy {
            response_time_ms: Band {
                low: 500.0,
                high: 1000.0,
            },
            error_rate_percent: Band {
                low: 0.1,
                high: 1.0,
            },
            cpu_percent: Band {
                low: 70.0,
                high: 85.0,
            },
            memory_percent: Band {
                low: 80.0,
                high: 90.0,
            },
            db_connections: Band {
                low: 50.0,
                high: 80.0,
            },
            disk_percent: Band {
                low: 70.0,
                high: 85.0,
            },
        }
    }
}

/// "When to Rollback".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RollbackPolicy {
    /// Roll back when the error rate is strictly above this (percent): 5.
    #[serde(deserialize_with = "threshold::deserialize")]
    pub error_rate_percent: f64,
    /// Fewer requests than this in the window makes the error-rate rule Inconclusive: 100.
    pub min_requests: u64,
    /// Roll back when performance degraded by strictly more than this ratio: 0.5 (50 %).
    #[serde(deserialize_with = "threshold::deserialize")]
    pub degradation_ratio: f64,
    /// The critical paths smoke-tested after a deploy; each must be reported and pass.
    pub critical_paths: Vec<String>,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        RollbackPolicy {
            error_rate_percent: 5.0,
            min_requests: 100,
            degradation_ratio: 0.5,
            critical_paths: [
                "login flow",
                "vehicle dashboard",
                "gps tracking",
                "work orders",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Response deadlines by severity ("Severity Levels" table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseTimes {
    /// P0: 15 minutes.
    #[serde(with = "duration")]
    pub p0: SignedDuration,
    /// P1: 1 hour.
    #[serde(with = "duration")]
    pub p1: SignedDuration,
    /// P2: 4 hours.
    #[serde(with = "duration")]
    pub p2: SignedDuration,
    /// P3: 24 hours.
    #[serde(with = "duration")]
    pub p3: SignedDuration,
}

impl Default for ResponseTimes {
    fn default() -> Self {
        ResponseTimes {
            p0: SignedDuration::from_mins(15),
            p1: SignedDuration::from_hours(1),
            p2: SignedDuration::from_hours(4),
            p3: SignedDuration::from_hours(24),
        }
    }
}

/// The escalation chain: roles, never names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Level 1 first: on-call engineer, technical lead, engineering manager, CTO.
    pub roles: Vec<String>,
    /// P0/P1: level 2 when not acknowledged this long after declaration: 5 minutes.
    #[serde(with = "duration")]
    pub unacknowledged_after: SignedDuration,
    /// P0/P1: level 3 when not mitigated this long after declaration: 30 minutes.
    #[serde(with = "duration")]
    pub unmitigated_after: SignedDuration,
    /// P0/P1: level 4 when not resolved this long after declaration: 60 minutes.
    #[serde(with = "duration")]
    pub unresolved_after: SignedDuration,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        EscalationPolicy {
            roles: [
                "on-call engineer",
                "technical lead",
                "engineering manager",
                "CTO",
            ]
            .map(String::from)
            .to_vec(),
            unacknowledged_after: SignedDuration::from_mins(5),
            unmitigated_after: SignedDuration::from_mins(30),
            unresolved_after: SignedDuration::from_mins(60),
        }
    }
}

/// "Incident Response".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentPolicy {
    /// Response deadlines by severity.
    pub response: ResponseTimes,
    /// P0/P1: acknowledge within 5 minutes.
    #[serde(with = "duration")]
    pub acknowledge_within: SignedDuration,
    /// P0/P1: assess within 15 minutes.
    #[serde(with = "duration")]
    pub assess_within: SignedDuration,
    /// P0/P1: mitigate within 30 minutes.
    #[serde(with = "duration")]
    pub mitigate_within: SignedDuration,
    /// P0/P1: a status update at least this often while open: 30 minutes.
    #[serde(with = "duration")]
    pub status_update_every: SignedDuration,
    /// P0/P1: monitor this long after the fix before resolving: 1 hour.
    #[serde(with = "duration")]
    pub monitor_after_fix: SignedDuration,
    /// P0/P1: post-mortem within this long after resolution: 48 hours.
    #[serde(with = "duration")]
    pub post_mortem_within: SignedDuration,
    /// The escalation chain.
    pub escalation: EscalationPolicy,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        IncidentPolicy {
            response: ResponseTimes::default(),
            acknowledge_within: SignedDuration::from_mins(5),
            assess_within: SignedDuration::from_mins(15),
            mitigate_within: SignedDuration::from_mins(30),
            status_update_every: SignedDuration::from_mins(30),
            monitor_after_fix: SignedDuration::from_hours(1),
            post_mortem_within: SignedDuration::from_hours(48),
            escalation: EscalationPolicy::default(),
        }
    }
}

/// Local opening hours `[start, end)` on a day.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHours")]
pub struct Hours {
    start: Time,
    end: Time,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    start: Time,
    end: Time,
}

impl TryFrom<RawHours> for Hours {
    type Error = String;
    fn try_from(raw: RawHours) -> Result<Hours, String> {
        Hours::new(raw.start, raw.end)
    }
}

impl Hours {
    /// Hours from `start` (inclusive) to `end` (exclusive).
    ///
    /// # Errors
    /// A message when `start` is not before `end`.
    pub fn new(start: Time, end: Time) -> Result<Hours, String> {
        if start < end {
            Ok(Hours { start, end })
        } else {
            Err(format!("hours start ({start}) must be before end ({end})"))
        }
    }

    /// Opening time.
    pub fn start(&self) -> Time {
        self.start
    }

    /// Closing time (exclusive).
    pub fn end(&self) -> Time {
        self.end
    }
}

/// Business hours, for hotfix advice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHours {
    /// Zone of the hours: `America/New_York`.
    pub zone: Zone,
    /// Working days: Monday to Friday.
    pub days: Vec<Day>,
    /// Hours: 09:00 to 17:00.
    pub hours: Hours,
    /// Public holidays (local dates) that are not business days.
    pub holidays: Vec<Date>,
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours {
            zone: Zone::new_york(),
            days: vec![
                Day::Monday,
                Day::Tuesday,
                Day::Wednesday,
                Day::Thursday,
                Day::Friday,
            ],
            hours: Hours {
                start: Time::constant(9, 0, 0, 0),
                end: Time::constant(17, 0, 0, 0),
            },
            holidays: Vec::new(),
        }
    }
}

/// A freeze period `[start, end)`: no standard deploys, hotfixes warned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFreeze")]
pub struct Freeze {
    start: Timestamp,
    end: Timestamp,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    start: Timestamp,
    end: Timestamp,
    reason: String,
}

impl TryFrom<RawFreeze> for Freeze {
    type Error = String;
    fn try_from(raw: RawFreeze) -> Result<Freeze, String> {
        Freeze::new(raw.start, raw.end, raw.reason)
    }
}

impl Freeze {
    /// A freeze from `start` (inclusive) to `end` (exclusive) with its reason.
    ///
    /// # Errors
    /// A message when `start` is not before `end` or the reason is empty.
    pub fn new(start: Timestamp, end: Timestamp, reason: String) -> Result<Freeze, String> {
        if start >= end {
            return Err(format!("freeze start ({start}) must be before end ({end})"));
        }
        if reason.trim().is_empty() {
            return Err("a freeze needs a reason".into());
        }
        Ok(Freeze { start, end, reason })
    }

    /// Start (inclusive).
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// End (exclusive).
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Why deploys are frozen.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether `t` falls inside the freeze.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// "Deployment Procedures".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployPolicy {
    /// Zone of the weekly window: `America/New_York` (so it follows daylight saving).
    pub zone: Zone,
    /// Day of the weekly window: Thursday.
    pub weekday: Day,
    /// Local start of the window: 22:00.
    pub start: Time,
    /// Length of the window: 2 hours.
    #[serde(with = "duration")]
    pub duration: SignedDuration,
    /// Role whose approval a hotfix needs: `technical-lead`.
    pub hotfix_approver_role: String,
    /// Branch a hotfix branch must be cut from: `main`.
    pub hotfix_base_branch: String,
    /// Business hours (hotfixes outside them are a warning).
    pub business_hours: BusinessHours,
    /// Freeze periods.
    pub freezes: Vec<Freeze>,
}

impl Default for DeployPolicy {
    fn default() -> Self {
        DeployPolicy {
            zone: Zone::new_york(),
            weekday: Day::Thursday,
            start: Time::constant(22, 0, 0, 0),
            duration: SignedDuration::from_hours(2),
            hotfix_approver_role: "technical-lead".into(),
            hotfix_base_branch: "main".into(),
            business_hours: BusinessHours::default(),
            freezes: Vec::new(),
        }
    }
}

/// Replica bounds `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawReplicas")]
pub struct Replicas {
    min: u32,
    max: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplicas {
    min: u32,
    max: u32,
}

impl TryFrom<RawReplicas> for Replicas {
    type Error = String;
    fn try_from(raw: RawReplicas) -> Result<Replicas, String> {
        Replicas::new(raw.min, raw.max)
    }
}

impl Replicas {
    /// Bounds from `min` to `max`.
    ///
    /// # Errors
    /// A message when `min` is 0 or above `max`.
    pub fn new(min: u32, max: u32) -> Result<Replicas, String> {
        if min == 0 {
            return Err("min replicas must be at least 1".into());
        }
        if min > max {
            return Err(format!("min replicas ({min}) is above max ({max})"));
        }
        Ok(Replicas { min, max })
    }

    /// Lower bound.
    pub fn min(&self) -> u32 {
        self.min
    }

    /// Upper bound.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// `n` clamped into the bounds.
    pub fn clamp(&self, n: u32) -> u32 {
        n.clamp(self.min, self.max)
    }
}

/// Container resources for the vertical-scaling step, as Kubernetes quantities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceStep {
    /// Memory request: 512Mi.
    pub requests_memory: String,
    /// CPU request: 500m.
    pub requests_cpu: String,
    /// Memory limit: 1Gi.
    pub limits_memory: String,
    /// CPU limit: 1000m.
    pub limits_cpu: String,
}

impl Default for ResourceStep {
    fn default() -> Self {
        ResourceStep {
            requests_memory: "512Mi".into(),
            requests_cpu: "500m".into(),
            limits_memory: "1Gi".into(),
            limits_cpu: "1000m".into(),
        }
    }
}

/// "Scaling Guidelines".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingPolicy {
    /// "Sustained" means every sample in this window is above the threshold: 5 minutes.
    #[serde(with = "duration")]
    pub window: SignedDuration,
    /// Fewer samples than this in the window is Inconclusive: 3.
    pub min_samples: usize,
    /// Scale out when CPU is above this, sustained (percent): 70.
    #[serde(deserialize_with = "threshold::deserialize")]
    pub cpu_percent: f64,
    /// Scale out when memory is above this, sustained (percent): 80.
    #[serde(deserialize_with = "threshold::deserialize")]
    pub memory_percent: f64,
    /// Scale out when p95 response time is above this, sustained (ms): 2000.
    #[serde(deserialize_with = "threshold::deserialize")]
    pub response_time_ms: f64,
    /// Replica bounds: 3 to 10.
    pub replicas: Replicas,
    /// CPU utilization target of the default autoscaler (percent): 70.
    pub hpa_cpu_target_percent: u32,
    /// The recommended vertical step (after an OOMKilled restart).
    pub vertical: ResourceStep,
}

impl Default for ScalingPolicy {
    fn default() -> Self {
        ScalingPolicy {
            window: SignedDuration::from_mins(5),
            min_samples: 3,
            cpu_percent: 70.0,
            memory_percent: 80.0,
            response_time_ms: 2000.0,
            replicas: Replicas { min: 3, max: 10 },
            hpa_cpu_target_percent: 70,
            vertical: ResourceStep::default(),
        }
    }
}

/// "Backup & Recovery".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupPolicy {
    /// Daily scheduled backup start, UTC: 02:00.
    pub schedule_utc: Time,
    /// How long a scheduled backup is expected to run (for the deploy-overlap warning): 1 hour.
    #[serde(with = "duration")]
    pub expected_duration: SignedDuration,
    /// Days of point-in-time recovery kept: 7.
    pub retention_days: u32,
    /// Recovery point objective: the newest successful backup is at most this old: 24 hours.
    #[serde(with = "duration")]
    pub rpo: SignedDuration,
    /// Recovery time objective: a recovery finishes within this: 4 hours.
    #[serde(with = "duration")]
    pub rto: SignedDuration,
    /// Warn when a recovery in progress has used this share of its RTO: 0.75.
    #[serde(deserialize_with = "threshold::deserialize")]
    pub rto_warn_ratio: f64,
    /// Prefix of on-demand backup names: `manual-backup-`.
    pub on_demand_prefix: String,
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            schedule_utc: Time::constant(2, 0, 0, 0),
            expected_duration: SignedDuration::from_hours(1),
            retention_days: 7,
            rpo: SignedDuration::from_hours(24),
            rto: SignedDuration::from_hours(4),
            rto_warn_ratio: 0.75,
            on_demand_prefix: "manual-backup-".into(),
        }
    }
}

/// "Alert Response".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertPolicy {
    /// A deploy this recent makes "consider rollback" part of the high-error-rate response:
    /// 4 hours (the runbook says only "recent"; this is the project's reading).
    #[serde(with = "duration")]
    pub recent_deploy_window: SignedDuration,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            recent_deploy_window: SignedDuration::from_hours(4),
        }
    }
}

/// Runbook reviews.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewPolicy {
    /// Review every this many calendar months (day clamped to the month's end): 3.
    pub every_months: u32,
    /// Zone in which "today" is taken: `America/New_York`.
    pub zone: Zone,
    /// Say a review is coming up this many days before it is due: 14.
    pub due_soon_days: u32,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            every_months: 3,
            zone: Zone::new_york(),
            due_soon_days: 14,
        }
    }
}

/// How outcomes turn into a pipeline's pass or fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatePolicy {
    /// Warnings block: false.
    pub warn_blocks: bool,
    /// Inconclusive findings block: true (missing data never passes).
    pub inconclusive_blocks: bool,
    /// Error findings block: true.
    pub error_blocks: bool,
    /// At most this many GitHub annotations per level; the rest go to the step summary: 10
    /// (GitHub shows at most 10 errors and 10 warnings per step).
    pub github_annotation_cap: usize,
}

impl GatePolicy {
    /// Whether a finding with this (effective) outcome blocks the pipeline.
    pub fn blocks(&self, outcome: crate::Outcome) -> bool {
        match outcome {
            crate::Outcome::Pass => false,
            crate::Outcome::Warn => self.warn_blocks,
            crate::Outcome::Inconclusive => self.inconclusive_blocks,
            crate::Outcome::Error => self.error_blocks,
            crate::Outcome::Fail => true,
        }
    }
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            warn_blocks: false,
            inconclusive_blocks: true,
            error_blocks: true,
            github_annotation_cap: 10,
        }
    }
}

/// Limits on waivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaiverPolicy {
    /// A waiver may not reach further than this many days past evaluation: 90.
    pub max_horizon_days: u32,
    /// Warn this many days before a waiver expires: 7.
    pub warn_before_expiry_days: u32,
}

impl Default for WaiverPolicy {
    fn default() -> Self {
        WaiverPolicy {
            max_horizon_days: 90,
            warn_before_expiry_days: 7,
        }
    }
}
