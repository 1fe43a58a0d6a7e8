//! Telling people: one vendor-neutral [`Notification`], a [`Notifier`] trait, and
//! implementations for Slack incoming webhooks, PagerDuty Events API v2, Atlassian
//! Statuspage and a generic JSON webhook.
//!
//! A notifier says which notifications it takes ([`Notifier::accepts`]: PagerDuty only pages
//! for incident lifecycle events, Slack posts where it has a webhook for the channel) and
//! returns a typed [`Error`](crate::Error) when delivery fails after its retries. It never
//! decides whether the procedure goes on: [`notify_all`] runs each delivery as a
//! `fleet_guard` notify step, which is reported and never fails the run.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use fleet_guard::{Executor, Step};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;

mod pagerduty;
mod slack;
mod statuspage;
mod webhook;

pub use pagerduty::{PAGERDUTY_EVENTS_URL, PagerDutyNotifier, PagerDutyOptions};
pub use slack::{SlackNotifier, SlackOptions};
pub use statuspage::{STATUSPAGE_API_URL, StatuspageNotifier, StatuspageOptions};
pub use webhook::{
    NOTIFICATION_SCHEMA, NOTIFICATION_SCHEMA_VERSION, WebhookNotifier, WebhookOptions,
};

/// Where a notification goes, by the runbook's channel names (`deployments`, `incidents`).
/// Each notifier maps channels to its own destinations (Slack webhooks, PagerDuty services).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Channel(String);

impl Channel {
    /// `#deployments`: deploys, their outcome, rollbacks decided by a deploy.
    pub fn deployments() -> Self {
        Self("deployments".into())
    }

    /// `#incidents`: incidents and rollbacks.
    pub fn incidents() -> Self {
        Self("incidents".into())
    }

    /// Security incidents (security and legal are told through it).
    pub fn security() -> Self {
        Self("security".into())
    }

    /// Any other channel name (without `#`).
    pub fn named(name: &str) -> Self {
        Self(name.trim().trim_start_matches('#').to_owned())
    }

    /// The name, without `#`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the notification does to an incident (or that it is only a message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A message (a deploy started, finished, was rolled back): no incident lifecycle.
    Post,
    /// An incident starts: page, open a status-page incident.
    Trigger,
    /// Someone is on it.
    Acknowledge,
    /// News about an open incident (the 30-minute status update).
    Update,
    /// It is over.
    Resolve,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Post => "post",
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Update => "update",
            Action::Resolve => "resolve",
        }
    }
}

/// How bad it is, in PagerDuty's four levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Something failed.
    Error,
    /// Production is down or broken.
    Critical,
}

impl Severity {
    /// Lower-case name (PagerDuty's `payload.severity` values).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// A public status for a status page, Statuspage's four realtime states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Looking into it.
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is in; watching.
    Monitoring,
    /// Over.
    Resolved,
}

impl IncidentStatus {
    /// Statuspage's value.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

/// A link shown with the notification (a dashboard, the audit log, a runbook section).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The URL (shown as is: never put a secret in it).
    pub href: String,
    /// The text.
    pub text: String,
}

/// One thing to tell people, in vendor-neutral terms. Never put a secret in it: it is sent to
/// chat, paging and public status pages, and may be kept in reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The channel (`#deployments`, `#incidents`).
    pub channel: Channel,
    /// Message or incident lifecycle.
    pub action: Action,
    /// How bad.
    pub severity: Severity,
    /// One line: Slack's bold first line, PagerDuty's summary, the status page's incident name.
    pub title: String,
    /// More text: Slack's body, the status page's update (public: write it for customers when
    /// the notification goes to a status page).
    #[serde(default)]
    pub body: String,
    /// The affected system (`fleet-api`, `deployment/fleet-management/fleet-api`).
    pub source: String,
    /// The incident's key: PagerDuty's `dedup_key`, and how the status-page notifier finds
    /// the incident it opened. Needed for acknowledge, update and resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When it happened.
    pub at: Timestamp,
    /// The public status, for a status page (derived from the action when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IncidentStatus>,
    /// Links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Structured details (PagerDuty's `custom_details`; the webhook's `details`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
    /// Ids that earlier deliveries returned ([`Delivery::reference`]), by notifier name, so that
    /// a resumed procedure can update what it opened before (`statuspage` → incident id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub references: BTreeMap<String, String>,
}

impl Notification {
    /// A notification with the required fields; the rest is empty.
    pub fn new(
        channel: Channel,
        action: Action,
        severity: Severity,
        title: impl Into<String>,
        source: impl Into<String>,
        at: Timestamp,
    ) -> Self {
        Self {
            channel,
            action,
            severity,
            title: title.into(),
            body: String::new(),
            source: source.into(),
            key: None,
            at,
            status: None,
            links: Vec::new(),
            details: BTreeMap::new(),
            references: BTreeMap::new(),
        }
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the incident key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the public status.
    pub fn with_status(mut self, status: IncidentStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a link.
    pub fn with_link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.links.push(Link {
            href: href.into(),
            text: text.into(),
        });
        self
    }

    /// Adds a detail.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.details.insert(key.into(), v);
        }
        self
    }

    /// Adds a reference from an earlier delivery.
    pub fn with_reference(mut self, notifier: impl Into<String>, id: impl Into<String>) -> Self {
        self.references.insert(notifier.into(), id.into());
        self
    }

    /// The status for a status page: the one given, else from the action.
    pub fn public_status(&self) -> Option<IncidentStatus> {
        self.status.or(match self.action {
            Action::Trigger => Some(IncidentStatus::Investigating),
            Action::Acknowledge => Some(IncidentStatus::Identified),
            Action::Resolve => Some(IncidentStatus::Resolved),
            Action::Post | Action::Update => None,
        })
    }
}

/// A delivered notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The notifier (`slack`, `pagerduty`, `statuspage`, `webhook`).
    pub notifier: String,
    /// Where it went, safe to show (`slack #deployments`, a host).
    pub target: String,
    /// Requests made (more than one when retried).
    pub attempts: u32,
    /// The id the vendor gave (PagerDuty's `dedup_key`, a Statuspage incident id), to keep in
    /// the procedure's record and pass back in [`Notification::references`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Something that tells people. Object safe: procedures hold `Arc<dyn Notifier>`.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// The notifier's name (`slack`); also the key of its [`Notification::references`].
    fn name(&self) -> &str;

    /// Where a notification would go, safe to show (never a secret): a plan step's target.
    fn target(&self, notification: &Notification) -> String;

    /// Whether this notifier takes this notification (by channel and action).
    fn accepts(&self, notification: &Notification) -> bool;

    /// Delivers it, retrying within the notifier's budget.
    ///
    /// # Errors
    /// The last failure after the retries: [`crate::ErrorKind::Transport`],
    /// `RateLimited`, `Server`, `Rejected`, `Auth`...; `InvalidInput` when the notification
    /// cannot be sent as it is (no key for an acknowledge). Never carries a secret.
    async fn notify(&self, notification: &Notification) -> Result<Delivery>;
}

/// What [`notify_all`] did for one notifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyResult {
    /// The notifier's name.
    pub notifier: String,
    /// The delivery, when it happened (`None`: failed, see the step's report, or dry run).
    pub delivery: Option<Delivery>,
}

/// Sends `notification` through every notifier that accepts it, each as a notify step of
/// `run` (`<step_id>.<notifier>`): skipped in a dry run, reported, and never failing the
/// procedure. Notifiers are called one after another, in the order given.
pub async fn notify_all(
    run: &Executor,
    step_id: &str,
    notifiers: &[Arc<dyn Notifier>],
    notification: &Notification,
) -> Vec<NotifyResult> {
    let mut results = Vec::new();
    for notifier in notifiers.iter().filter(|n| n.accepts(notification)) {
        let step = notify_step(step_id, notifier.as_ref(), notification);
        let mut delivered = None;
        let slot = &mut delivered;
        run.notify(step, || async move {
            let delivery = notifier.notify(notification).await?;
            *slot = Some(delivery);
            Ok::<(), crate::Error>(())
        })
        .await;
        results.push(NotifyResult {
            notifier: notifier.name().to_owned(),
            delivery: delivered,
        });
    }
    results
}

/// The plan step for sending `notification` through `notifier`.
pub fn notify_step(step_id: &str, notifier: &dyn Notifier, notification: &Notification) -> Step {
    Step::notify(
        &format!("{step_id}.{}", notifier.name()),
        &notifier.target(notification),
        format!(
            "{} {}: {}",
            notification.action.as_str(),
            notification.severity.as_str(),
            notification.title
        ),
    )
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_by_character() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
    }

    #[test]
    fn public_status_follows_the_action() {
        let n = Notification::new(
            Channel::incidents(),
            Action::Trigger,
            Severity::Critical,
            "t",
            "s",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(n.public_status(), Some(IncidentStatus::Investigating));
        let n = n.with_status(IncidentStatus::Monitoring);
        assert_eq!(n.public_status(), Some(IncidentStatus::Monitoring));
        assert_eq!(Channel::named("#deployments"), Channel::deployments());
        assert_eq!(Channel::deployments().to_string(), "#deployments");
    }
}
