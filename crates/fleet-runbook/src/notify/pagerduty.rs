//! PagerDuty Events API v2: `POST https://events.pagerduty.com/v2/enqueue` with the
//! integration's routing key in the body (no auth header). `trigger` carries a payload
//! (summary up to 1024 characters, source, severity, timestamp, custom details) and an
//! optional `dedup_key` (PagerDuty makes one up and returns it otherwise); `acknowledge` and
//! `resolve` need the key. 202 means queued; 400 is not worth retrying; 429 and 5xx are.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Action, Channel, Delivery, Notification, Notifier, truncate};
use crate::error::{Error, Result};
use crate::http::{self, Call, RetryOptions, retry_common};
use crate::secret::{Secret, check_url, literal_url, url_without_query};

/// PagerDuty's documented endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const SUMMARY_MAX: usize = 1024;
const DEDUP_KEY_MAX: usize = 255;
const REQUEST_MAX_BYTES: usize = 512 * 1024;

/// Tunables of [`PagerDutyNotifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagerDutyOptions {
    /// The Events API endpoint ([`PAGERDUTY_EVENTS_URL`]).
    pub endpoint: Url,
    /// The channels that page (`incidents`).
    pub channels: Vec<Channel>,
    /// `payload.component` (`fleet-api`), when set.
    pub component: Option<String>,
    /// `payload.group` (`production`), when set.
    pub group: Option<String>,
    /// `payload.class` (`deploy`), when set.
    pub class: Option<String>,
    /// Per-request timeout (10 s).
    pub timeout: Duration,
    /// Retries of 429, 5xx and connection failures (PagerDuty suggests a few, spaced out).
    pub retry: RetryOptions,
}

impl Default for PagerDutyOptions {
    fn default() -> Self {
        Self {
            endpoint: literal_url(PAGERDUTY_EVENTS_URL),
            channels: vec![Channel::incidents()],
            component: None,
            group: None,
            class: None,
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
        }
    }
}

impl PagerDutyOptions {
    /// Sends to another endpoint (a proxy, a test receiver).
    pub fn with_endpoint(mut self, endpoint: Url) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Pages for these channels.
    pub fn with_channels(mut self, channels: Vec<Channel>) -> Self {
        self.channels = channels;
        self
    }
}

/// Triggers, acknowledges and resolves PagerDuty alerts.
#[derive(Debug, Clone)]
pub struct PagerDutyNotifier {
    routing_key: Secret,
    options: PagerDutyOptions,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Accepted {
    #[serde(default)]
    dedup_key: Option<String>,
}

impl PagerDutyNotifier {
    /// A notifier sending events with the service integration's `routing_key` (secret);
    /// `None` options are the defaults.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty routing key or one with whitespace, or an endpoint
    /// that is not an http(s) URL.
    pub fn new(routing_key: Secret, options: Option<PagerDutyOptions>) -> Result<Self> {
        let key = routing_key.expose();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "pagerduty.routing_key",
                "must be the integration key: not empty, no whitespace",
            ));
        }
        let options = options.unwrap_or_default();
        check_url("pagerduty.endpoint", &options.endpoint)?;
        let client = http::client(options.timeout)?;
        Ok(Self {
            routing_key,
            options,
            client,
        })
    }

    /// The event for `n` (what is posted), without checking sizes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a post or update (PagerDuty has no such event), or an
    /// acknowledge/resolve without a key, or a key over 255 characters.
    pub fn event(&self, n: &Notification) -> Result<Value> {
        let action = match n.action {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Post | Action::Update => {
                return Err(Error::invalid(
                    "notification.action",
                    format!("PagerDuty has no {} event", n.action.as_str()),
                ));
            }
        };
        if let Some(key) = &n.key {
            if key.is_empty() || key.chars().count() > DEDUP_KEY_MAX {
                return Err(Error::invalid(
                    "notification.key",
                    "a dedup key has 1 to 255 characters",
                ));
            }
        } else if n.action != Action::Trigger {
            return Err(Error::invalid(
                "notification.key",
                format!("{action} needs the incident's dedup key"),
            ));
        }
        let mut event = Map::new();
        event.insert("routing_key".into(), json!(self.routing_key.expose()));
        event.insert("event_action".into(), json!(action));
        if let Some(key) = &n.key {
            event.insert("dedup_key".into(), json!(key));
        }
        if n.action == Action::Trigger {
            let mut payload = Map::new();
            payload.insert("summary".into(), json!(truncate(&n.title, SUMMARY_MAX)));
            let source = if n.source.trim().is_empty() {
                "fleet-runbook"
            } else {
                &n.source
            };
            payload.insert("source".into(), json!(source));
            payload.insert("severity".into(), json!(n.severity.as_str()));
            payload.insert("timestamp".into(), json!(n.at.to_string()));
            for (field, value) in [
                ("component", &self.options.component),
                ("group", &self.options.group),
                ("class", &self.options.class),
            ] {
                if let Some(v) = value {
                    payload.insert(field.into(), json!(v));
                }
            }
            let mut details: Map<String, Value> = n.details.clone().into_iter().collect();
            if !n.body.is_empty() {
                details.entry("body").or_insert_with(|| json!(n.body));
            }
            details.insert("channel".into(), json!(n.channel.as_str()));
            payload.insert("custom_details".into(), Value::Object(details));
            event.insert("payload".into(), Value::Object(payload));
            event.insert("client".into(), json!("fleet-runbook"));
            let links: Vec<Value> = n
                .links
                .iter()
                .filter(|l| l.href.starts_with("https://") || l.href.starts_with("http://"))
                .map(|l| json!({"href": l.href, "text": l.text}))
                .collect();
            if !links.is_empty() {
                event.insert("links".into(), Value::Array(links));
            }
        }
        Ok(Value::Object(event))
    }
}

#[async_trait]
impl Notifier for PagerDutyNotifier {
    fn name(&self) -> &str {
        "pagerduty"
    }

    fn target(&self, n: &Notification) -> String {
        format!(
            "pagerduty {} ({})",
            n.channel,
            self.options.endpoint.host_str().unwrap_or("")
        )
    }

    fn accepts(&self, n: &Notification) -> bool {
        matches!(
            n.action,
            Action::Trigger | Action::Acknowledge | Action::Resolve
        ) && self.options.channels.contains(&n.channel)
    }

    #[tracing::instrument(skip_all, fields(channel = %n.channel, action = n.action.as_str()))]
    async fn notify(&self, n: &Notification) -> Result<Delivery> {
        let event = self.event(n)?;
        let body = serde_json::to_vec(&event)
            .map_err(|e| Error::invalid("notification", e.to_string()))?;
        if body.len() > REQUEST_MAX_BYTES {
            return Err(Error::invalid(
                "notification.details",
                format!("the event is {} bytes, over PagerDuty's 512 KB", body.len()),
            ));
        }
        let key = self.routing_key.expose();
        let secrets = [key];
        let call = Call {
            service: "pagerduty",
            target: url_without_query(&self.options.endpoint),
            secrets: &secrets,
            retry: &self.options.retry,
            max_body: 16 * 1024,
            retry_on: retry_common,
        };
        let answer = http::send(&call, || {
            self.client
                .post(self.options.endpoint.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await?;
        if !answer.is_success() {
            return Err(answer.error(&call));
        }
        let accepted: Option<Accepted> = serde_json::from_slice(&answer.body).ok();
        let reference = accepted.and_then(|a| a.dedup_key).or_else(|| n.key.clone());
        Ok(Delivery {
            notifier: "pagerduty".into(),
            target: self.target(n),
            attempts: answer.attempts,
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Severity;

    fn notifier() -> PagerDutyNotifier {
        PagerDutyNotifier::new(Secret::new("0123456789abcdef0123456789abcdef"), None)
            .expect("notifier")
    }

    #[test]
    fn follow_ups_need_a_key_and_posts_are_not_events() {
        let n = Notification::new(
            Channel::incidents(),
            Action::Resolve,
            Severity::Critical,
            "t",
            "s",
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert!(notifier().event(&n).expect_err("no key").is_invalid_input());
        let mut post = n.clone();
        post.action = Action::Post;
        assert!(!notifier().accepts(&post));
        let ok = notifier().event(&n.with_key("k1")).expect("event");
        assert_eq!(ok["event_action"], "resolve");
        assert!(ok.get("payload").is_none());
    }

    #[test]
    fn summary_is_capped() {
        let n = Notification::new(
            Channel::incidents(),
            Action::Trigger,
            Severity::Error,
            "y".repeat(2000),
            "",
            jiff::Timestamp::UNIX_EPOCH,
        );
        let e = notifier().event(&n).expect("event");
        assert_eq!(
            e["payload"]["summary"].as_str().map(|s| s.chars().count()),
            Some(1024)
        );
        assert_eq!(e["payload"]["source"], "fleet-runbook");
    }

    #[test]
    fn empty_routing_key_is_refused() {
        assert!(PagerDutyNotifier::new(Secret::new(""), None).is_err());
        assert!(PagerDutyNotifier::new(Secret::new("a b"), None).is_err());
        let dbg = format!("{:?}", notifier());
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
    }
}
