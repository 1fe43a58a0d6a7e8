//! The Azure Monitor activity log ([`ActivityLog`], implemented by [`ActivityLogClient`]):
//! who did what to which resources in a window, for the runbook's security assessment.
//!
//! The `$filter` is built from typed parameters only ([`ActivityFilter`]), in the one syntax
//! the API accepts (`eventTimestamp ge '<start>' and eventTimestamp le '<end>' and
//! resourceGroupName eq '<group>'`); no value can contain a quote, so none can change the
//! filter. Azure keeps activity-log events for [`ACTIVITY_LOG_RETENTION`]; older windows come
//! back empty or short, so check a window against it with [`ActivityFilter::is_retained`].

use crate::error::{Error, Result};
use crate::http::{Http, resource_url};
use crate::names::validate_resource_group;
use crate::options::ListOptions;
use crate::pager::{ListPage, arm_page, pager};
use async_trait::async_trait;
use azure_core::http::Pager;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long Azure keeps activity-log events (90 days).
pub const ACTIVITY_LOG_RETENTION: SignedDuration = SignedDuration::from_hours(90 * 24);

/// What the events are about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActivityScope {
    /// Every resource of a resource group.
    ResourceGroup(String),
    /// One resource, by ARM id (`/subscriptions/.../providers/...`).
    Resource(String),
    /// One resource provider (`Microsoft.DBforPostgreSQL`).
    ResourceProvider(String),
    /// One operation's events, by correlation id.
    CorrelationId(String),
}

/// A checked activity-log query: a window (both ends included, as the API treats them) and a
/// scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityFilter {
    start: Timestamp,
    end: Timestamp,
    scope: ActivityScope,
}

impl ActivityFilter {
    /// Events of `scope` between `start` and `end`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `start` is after `end` or the scope's value is not a
    /// resource group name, ARM resource id, provider namespace or GUID.
    pub fn new(start: Timestamp, end: Timestamp, scope: ActivityScope) -> Result<Self> {
        if start > end {
            return Err(Error::invalid(
                "window",
                format!("start {start} is after end {end}"),
            ));
        }
        match &scope {
            ActivityScope::ResourceGroup(group) => validate_resource_group(group)?,
            ActivityScope::Resource(id) => {
                let ok = id.starts_with("/subscriptions/")
                    && id.len() <= 1024
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/_-.()".contains(c))
                    && !id.split('/').any(|s| s == "." || s == "..");
                if !ok {
                    return Err(Error::invalid(
                        "resource_id",
                        format!("{id:?} is not an ARM resource id"),
                    ));
                }
            }
            ActivityScope::ResourceProvider(ns) => {
                let ok = !ns.is_empty()
                    && ns.len() <= 128
                    && ns.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
                if !ok {
                    return Err(Error::invalid(
                        "resource_provider",
                        format!("{ns:?} is not a provider namespace"),
                    ));
                }
            }
            ActivityScope::CorrelationId(id) => crate::names::validate_guid("correlation_id", id)?,
        }
        Ok(Self { start, end, scope })
    }

    /// Events of every resource of `resource_group` between `start` and `end`.
    ///
    /// # Errors
    /// As [`ActivityFilter::new`].
    pub fn resource_group(resource_group: &str, start: Timestamp, end: Timestamp) -> Result<Self> {
        Self::new(
            start,
            end,
            ActivityScope::ResourceGroup(resource_group.to_owned()),
        )
    }

    /// The `$filter` value this query sends.
    pub fn to_filter(&self) -> String {
        let (field, value) = match &self.scope {
            ActivityScope::ResourceGroup(v) => ("resourceGroupName", v),
            ActivityScope::Resource(v) => ("resourceUri", v),
            ActivityScope::ResourceProvider(v) => ("resourceProvider", v),
            ActivityScope::CorrelationId(v) => ("correlationId", v),
        };
        format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}' and {field} eq '{value}'",
            self.start, self.end
        )
    }

    /// Whether Azure still keeps every event of the window at `now`.
    pub fn is_retained(&self, now: Timestamp) -> bool {
        now.checked_sub(ACTIVITY_LOG_RETENTION)
            .is_ok_and(|oldest| self.start >= oldest)
    }
}

/// One activity-log event (the token claims Azure attaches are left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActivityEvent {
    /// When it happened.
    pub event_timestamp: Option<Timestamp>,
    /// When it became queryable (can be later).
    pub submission_timestamp: Option<Timestamp>,
    /// Who: a user principal name or a service principal id.
    pub caller: Option<String>,
    /// The caller's IP address, when Azure recorded the HTTP request.
    pub client_ip: Option<String>,
    /// Links every event of one operation.
    pub correlation_id: Option<String>,
    /// The operation (`microsoft.dbforpostgresql/flexibleservers/write`).
    pub operation_name: Option<String>,
    /// `Started`, `Succeeded`, `Failed`, ...
    pub status: Option<String>,
    /// The sub-status as Azure describes it (`Created (HTTP Status Code: 201)`).
    pub sub_status: Option<String>,
    /// `Critical`, `Error`, `Warning`, `Informational` or `Verbose`.
    pub level: Option<String>,
    /// The resource group.
    pub resource_group: Option<String>,
    /// The resource's ARM id.
    pub resource_id: Option<String>,
    /// The resource provider.
    pub resource_provider: Option<String>,
    /// The event's id.
    pub event_data_id: Option<String>,
    /// Category (`Administrative`, `Security`, ...).
    pub category: Option<String>,
    /// Extra properties, as strings.
    pub properties: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Localizable {
    value: Option<String>,
    #[serde(rename = "localizedValue")]
    localized_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequestInfo {
    client_ip_address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArmEvent {
    event_timestamp: Option<String>,
    submission_timestamp: Option<String>,
    caller: Option<String>,
    http_request: Option<HttpRequestInfo>,
    correlation_id: Option<String>,
    operation_name: Option<Localizable>,
    status: Option<Localizable>,
    sub_status: Option<Localizable>,
    level: Option<String>,
    resource_group_name: Option<String>,
    resource_id: Option<String>,
    resource_provider_name: Option<Localizable>,
    event_data_id: Option<String>,
    category: Option<Localizable>,
    properties: Option<BTreeMap<String, serde_json::Value>>,
}

impl ArmEvent {
    fn into_domain(self, operation: &str) -> Result<ActivityEvent> {
        let time =
            |field: &str, t: Option<String>| crate::postgres::parse_time(operation, field, t);
        Ok(ActivityEvent {
            event_timestamp: time("eventTimestamp", self.event_timestamp)?,
            submission_timestamp: time("submissionTimestamp", self.submission_timestamp)?,
            caller: self.caller,
            client_ip: self.http_request.and_then(|h| h.client_ip_address),
            correlation_id: self.correlation_id,
            operation_name: self.operation_name.and_then(|l| l.value),
            status: self.status.and_then(|l| l.value),
            sub_status: self.sub_status.and_then(|l| l.localized_value.or(l.value)),
            level: self.level,
            resource_group: self.resource_group_name,
            resource_id: self.resource_id,
            resource_provider: self.resource_provider_name.and_then(|l| l.value),
            event_data_id: self.event_data_id,
            category: self.category.and_then(|l| l.value),
            properties: self
                .properties
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        })
    }
}

fn event_page(operation: &str, body: &[u8]) -> Result<(Vec<ActivityEvent>, Option<String>)> {
    arm_page(operation, body, |op, e: ArmEvent| e.into_domain(op))
}

/// The activity log of one subscription.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ActivityLog: Send + Sync {
    /// The events `filter` selects, page by page.
    fn list_activity<'a>(
        &self,
        filter: &ActivityFilter,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<ActivityEvent>>>;
}

/// [`ActivityLog`] over ARM (`Microsoft.Insights/eventtypes/management/values`), from
/// [`crate::ArmClient::activity_log_client`].
#[derive(Clone, Debug)]
pub struct ActivityLogClient {
    pub(crate) http: Http,
    pub(crate) subscription_id: String,
    pub(crate) api_version: String,
}

#[async_trait]
impl ActivityLog for ActivityLogClient {
    #[tracing::instrument(skip_all, fields(subscription = %self.subscription_id, filter = %filter.to_filter()))]
    fn list_activity<'a>(
        &self,
        filter: &ActivityFilter,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<ActivityEvent>>> {
        let url = resource_url(
            &self.http.endpoint,
            &[
                "subscriptions",
                &self.subscription_id,
                "providers",
                "Microsoft.Insights",
                "eventtypes",
                "management",
                "values",
            ],
            &[
                ("api-version", &self.api_version),
                ("$filter", &filter.to_filter()),
            ],
        )?;
        pager(
            &self.http,
            "list activity-log events".to_owned(),
            url,
            event_page,
            options.unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn filters_have_the_one_accepted_syntax() -> Result<()> {
        let f = ActivityFilter::resource_group(
            "MSSupportGroup",
            ts("2015-01-21T20:00:00Z"),
            ts("2015-01-23T20:00:00Z"),
        )?;
        assert_eq!(
            f.to_filter(),
            "eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp le '2015-01-23T20:00:00Z' and resourceGroupName eq 'MSSupportGroup'"
        );
        Ok(())
    }

    #[test]
    fn values_cannot_change_the_filter() {
        let (a, b) = (ts("2025-01-01T00:00:00Z"), ts("2025-01-02T00:00:00Z"));
        for scope in [
            ActivityScope::ResourceGroup("rg' or 1 eq '1".into()),
            ActivityScope::Resource("/subscriptions/x/../y".into()),
            ActivityScope::Resource("/subscriptions/x' and".into()),
            ActivityScope::ResourceProvider("Microsoft.X'".into()),
            ActivityScope::CorrelationId("abc' or".into()),
        ] {
            assert!(
                ActivityFilter::new(a, b, scope.clone()).is_err(),
                "{scope:?}"
            );
        }
        assert!(ActivityFilter::resource_group("rg", b, a).is_err());
    }

    #[test]
    fn retention_is_ninety_days() -> Result<()> {
        let now = ts("2025-06-01T00:00:00Z");
        let f = ActivityFilter::resource_group("rg", ts("2025-03-04T00:00:00Z"), now)?;
        assert!(f.is_retained(now));
        let f = ActivityFilter::resource_group("rg", ts("2025-03-02T00:00:00Z"), now)?;
        assert!(!f.is_retained(now));
        Ok(())
    }
}

/// Property: whatever the scope value, a filter either is refused or has exactly the six
/// quotes of its three values.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_never_change_the_filters_shape(value in any::<String>(), which in 0u8..4) {
            let scope = match which {
                0 => ActivityScope::ResourceGroup(value),
                1 => ActivityScope::Resource(value),
                2 => ActivityScope::ResourceProvider(value),
                _ => ActivityScope::CorrelationId(value),
            };
            if let Ok(filter) = ActivityFilter::new(Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH, scope) {
                let text = filter.to_filter();
                prop_assert_eq!(text.matches('\'').count(), 6);
                prop_assert_eq!(text.matches(" and ").count(), 2);
            }
        }
    }
}
