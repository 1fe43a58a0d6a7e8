//! Atlassian Statuspage REST API v1: incidents of a page. `POST /pages/{page_id}/incidents`
//! opens one (201, the incident with its `id`); `PATCH /pages/{page_id}/incidents/{id}`
//! changes its status and adds an update (200). Authentication is the header
//! `Authorization: OAuth <api key>`. JSON bodies are wrapped in `{"incident": {...}}`. Each
//! token may make about one request per second; over that the API answers 420 or 429 with
//! `Retry-After`.
//!
//! The notifier remembers which incident it opened for a notification key, and a resumed
//! procedure passes the id back through [`Notification::references`] (`statuspage`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Action, Channel, Delivery, IncidentStatus, Notification, Notifier, Severity, truncate,
};
use crate::error::{Error, Result};
use crate::http::{self, Call, RetryOptions};
use crate::secret::{Secret, check_url, literal_url, url_without_query};

/// Statuspage's documented API root.
pub const STATUSPAGE_API_URL: &str = "https://api.statuspage.io/v1/";
const NAME_MAX: usize = 255;
const BODY_MAX: usize = 25_000;

/// Tunables of [`StatuspageNotifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatuspageOptions {
    /// The API root ([`STATUSPAGE_API_URL`]).
    pub base_url: Url,
    /// The channels that reach the public page (`incidents`).
    pub channels: Vec<Channel>,
    /// Components the incidents affect; their status follows the severity and returns to
    /// `operational` on resolve.
    pub component_ids: Vec<String>,
    /// Whether subscribers are notified (Statuspage's `deliver_notifications`, true).
    pub deliver_notifications: bool,
    /// Per-request timeout (10 s).
    pub timeout: Duration,
    /// Retries of 420, 429, 5xx and connection failures.
    pub retry: RetryOptions,
}

impl Default for StatuspageOptions {
    fn default() -> Self {
        Self {
            base_url: literal_url(STATUSPAGE_API_URL),
            channels: vec![Channel::incidents()],
            component_ids: Vec::new(),
            deliver_notifications: true,
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
        }
    }
}

impl StatuspageOptions {
    /// Uses another API root (a test receiver).
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Marks these components as affected.
    pub fn with_components(mut self, component_ids: Vec<String>) -> Self {
        self.component_ids = component_ids;
        self
    }
}

/// Opens, updates and resolves incidents on a Statuspage page.
#[derive(Debug)]
pub struct StatuspageNotifier {
    page_id: String,
    api_key: Secret,
    options: StatuspageOptions,
    client: reqwest::Client,
    opened: Mutex<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Incident {
    id: String,
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Statuspage's retryable statuses: its 420 besides the common ones.
fn retry_statuspage(status: u16) -> bool {
    status == 420 || http::retry_common(status)
}

impl StatuspageNotifier {
    /// A notifier for the page `page_id`, authenticated with `api_key` (secret); `None`
    /// options are the defaults.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty API key, a page or component id that is not
    /// alphanumeric, or a base URL that is not http(s).
    pub fn new(page_id: &str, api_key: Secret, options: Option<StatuspageOptions>) -> Result<Self> {
        let key = api_key.expose();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "statuspage.api_key",
                "must be the API key: not empty, no whitespace",
            ));
        }
        if !is_id(page_id) {
            return Err(Error::invalid(
                "statuspage.page_id",
                format!("{page_id:?} is not a page id (letters and digits)"),
            ));
        }
        let options = options.unwrap_or_default();
        if let Some(bad) = options.component_ids.iter().find(|c| !is_id(c)) {
            return Err(Error::invalid(
                "statuspage.component_ids",
                format!("{bad:?} is not a component id (letters and digits)"),
            ));
        }
        check_url("statuspage.base_url", &options.base_url)?;
        let client = http::client(options.timeout)?;
        Ok(Self {
            page_id: page_id.to_owned(),
            api_key,
            options,
            client,
            opened: Mutex::new(BTreeMap::new()),
        })
    }

    /// The `{"incident": {...}}` body for `n`: for a trigger, the new incident; otherwise
    /// the change to the open one.
    pub fn body(&self, n: &Notification) -> Value {
        let mut incident = Map::new();
        if n.action == Action::Trigger {
            incident.insert("name".into(), json!(truncate(&n.title, NAME_MAX)));
            incident.insert(
                "impact_override".into(),
                json!(match n.severity {
                    Severity::Critical => "critical",
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                    Severity::Info => "none",
                }),
            );
        }
        if let Some(status) = n.public_status() {
            incident.insert("status".into(), json!(status.as_str()));
        }
        let text = if n.body.is_empty() && n.action == Action::Trigger {
            n.title.clone()
        } else {
            n.body.clone()
        };
        if !text.is_empty() {
            incident.insert("body".into(), json!(truncate(&text, BODY_MAX)));
        }
        if !self.options.component_ids.is_empty() {
            let state = if n.public_status() == Some(IncidentStatus::Resolved) {
                "operational"
            } else {
                match n.severity {
                    Severity::Critical => "major_outage",
                    Severity::Error => "partial_outage",
                    Severity::Warning => "degraded_performance",
                    Severity::Info => "operational",
                }
            };
            incident.insert("component_ids".into(), json!(self.options.component_ids));
            let components: Map<String, Value> = self
                .options
                .component_ids
                .iter()
                .map(|id| (id.clone(), json!(state)))
                .collect();
            incident.insert("components".into(), Value::Object(components));
        }
        incident.insert(
            "deliver_notifications".into(),
            json!(self.options.deliver_notifications),
        );
        json!({ "incident": incident })
    }

    /// The incident a follow-up is about: the reference passed in, else the one this notifier
    /// opened for the key.
    fn incident_for(&self, n: &Notification) -> Result<String> {
        if let Some(id) = n.references.get("statuspage") {
            return if is_id(id) {
                Ok(id.clone())
            } else {
                Err(Error::invalid(
                    "notification.references.statuspage",
                    "not an incident id (letters and digits)",
                ))
            };
        }
        let key = n.key.as_deref().ok_or_else(|| {
            Error::invalid(
                "notification.key",
                format!(
                    "{} needs the incident's key or a statuspage reference",
                    n.action.as_str()
                ),
            )
        })?;
        self.opened
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .ok_or_else(|| Error::NotFound {
                what: "statuspage incident for key",
                name: key.to_owned(),
            })
    }

    fn url(&self, incident: Option<&str>) -> Result<Url> {
        let mut path = format!("pages/{}/incidents", self.page_id);
        if let Some(id) = incident {
            path.push('/');
            path.push_str(id);
        }
        let mut base = self.options.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(&path)
            .map_err(|e| Error::invalid("statuspage.base_url", e.to_string()))
    }
}

#[async_trait]
impl Notifier for StatuspageNotifier {
    fn name(&self) -> &str {
        "statuspage"
    }

    fn target(&self, _n: &Notification) -> String {
        format!("statuspage page {}", self.page_id)
    }

    fn accepts(&self, n: &Notification) -> bool {
        n.action != Action::Post && self.options.channels.contains(&n.channel)
    }

    #[tracing::instrument(skip_all, fields(page = %self.page_id, action = n.action.as_str()))]
    async fn notify(&self, n: &Notification) -> Result<Delivery> {
        let (method, url) = match n.action {
            Action::Post => {
                return Err(Error::invalid(
                    "notification.action",
                    "a status page takes incident events, not posts",
                ));
            }
            Action::Trigger => (Method::POST, self.url(None)?),
            _ => {
                let id = self.incident_for(n)?;
                (Method::PATCH, self.url(Some(&id))?)
            }
        };
        let body = self.body(n);
        let auth = format!("OAuth {}", self.api_key.expose());
        let secrets = [self.api_key.expose()];
        let call = Call {
            service: "statuspage",
            target: url_without_query(&url),
            secrets: &secrets,
            retry: &self.options.retry,
            max_body: 256 * 1024,
            retry_on: retry_statuspage,
        };
        let answer = http::send(&call, || {
            self.client
                .request(method.clone(), url.clone())
                .header(reqwest::header::AUTHORIZATION, &auth)
                .json(&body)
        })
        .await?;
        if !answer.is_success() {
            return Err(answer.error(&call));
        }
        let incident: Incident =
            serde_json::from_slice(&answer.body).map_err(|e| Error::Response {
                service: "statuspage",
                target: call.target.clone(),
                detail: format!("not an incident: {e}"),
            })?;
        if n.action == Action::Trigger
            && let (Some(key), Ok(mut opened)) = (&n.key, self.opened.lock())
        {
            opened.insert(key.clone(), incident.id.clone());
        }
        Ok(Delivery {
            notifier: "statuspage".into(),
            target: self.target(n),
            attempts: answer.attempts,
            reference: Some(incident.id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier() -> StatuspageNotifier {
        StatuspageNotifier::new(
            "p4g3",
            Secret::new("k3y-value"),
            Some(StatuspageOptions::default().with_components(vec!["8kbf7d35c070".into()])),
        )
        .expect("notifier")
    }

    #[test]
    fn trigger_body_and_resolve_body() {
        let s = notifier();
        let n = Notification::new(
            Channel::incidents(),
            Action::Trigger,
            Severity::Error,
            "Elevated API errors",
            "fleet-api",
            jiff::Timestamp::UNIX_EPOCH,
        )
        .with_body("We are investigating.");
        let b = s.body(&n);
        assert_eq!(b["incident"]["status"], "investigating");
        assert_eq!(b["incident"]["impact_override"], "major");
        assert_eq!(
            b["incident"]["components"]["8kbf7d35c070"],
            "partial_outage"
        );
        let mut r = n.clone();
        r.action = Action::Resolve;
        let b = s.body(&r);
        assert_eq!(b["incident"]["status"], "resolved");
        assert!(b["incident"].get("name").is_none());
        assert_eq!(b["incident"]["components"]["8kbf7d35c070"], "operational");
    }

    #[test]
    fn bad_ids_are_refused() {
        assert!(StatuspageNotifier::new("../x", Secret::new("k"), None).is_err());
        let s = notifier();
        let n = Notification::new(
            Channel::incidents(),
            Action::Update,
            Severity::Error,
            "t",
            "s",
            jiff::Timestamp::UNIX_EPOCH,
        )
        .with_reference("statuspage", "a/b");
        assert!(s.incident_for(&n).expect_err("bad id").is_invalid_input());
        let unknown = Notification {
            references: BTreeMap::new(),
            key: Some("k".into()),
            ..n
        };
        assert!(
            s.incident_for(&unknown)
                .expect_err("unknown")
                .is_not_found()
        );
    }
}
