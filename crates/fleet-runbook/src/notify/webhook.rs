//! A generic JSON webhook: `POST <url>` with the notification as JSON (schema
//! `fleet-runbook/notification`, version 1: the fields of [`Notification`] plus `schema` and
//! `schema_version`), optional headers (an `Authorization` token), any 2xx is success.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{Channel, Delivery, Notification, Notifier};
use crate::error::{Error, Result};
use crate::http::{self as web, Call, RetryOptions, retry_common};
use crate::secret::{Secret, SecretUrl};

/// The schema name of the webhook's body.
pub const NOTIFICATION_SCHEMA: &str = "fleet-runbook/notification";
/// Its version. Fields are only added within a version.
pub const NOTIFICATION_SCHEMA_VERSION: u32 = 1;

/// Tunables of [`WebhookNotifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookOptions {
    /// The notifier's name (`webhook`), for reports and references.
    pub name: String,
    /// Extra headers; values are secret (`Authorization: Bearer ...`).
    pub headers: Vec<(String, Secret)>,
    /// The channels it takes; empty means every channel.
    pub channels: Vec<Channel>,
    /// Per-request timeout (10 s).
    pub timeout: Duration,
    /// Retries of 408, 429, 5xx and connection failures.
    pub retry: RetryOptions,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            name: "webhook".into(),
            headers: Vec::new(),
            channels: Vec::new(),
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
        }
    }
}

impl WebhookOptions {
    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: Secret) -> Self {
        self.headers.push((name.into(), value));
        self
    }
}

/// Posts notifications as JSON to a URL.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    url: SecretUrl,
    options: WebhookOptions,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl WebhookNotifier {
    /// A notifier posting to `url` (secret: it may hold a token); `None` options are the
    /// defaults.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty name, or a header name or value HTTP does not
    /// allow (the value is not repeated).
    pub fn new(url: SecretUrl, options: Option<WebhookOptions>) -> Result<Self> {
        let options = options.unwrap_or_default();
        if options.name.trim().is_empty() {
            return Err(Error::invalid("webhook.name", "must not be empty"));
        }
        let headers = web::header_map(
            "webhook.headers",
            options.headers.iter().map(|(k, v)| (k.as_str(), v)),
        )?;
        let client = web::client(options.timeout)?;
        Ok(Self {
            url,
            options,
            headers,
            client,
        })
    }

    /// The JSON body for `n`.
    pub fn body(n: &Notification) -> Value {
        let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("schema".into(), json!(NOTIFICATION_SCHEMA));
            map.insert("schema_version".into(), json!(NOTIFICATION_SCHEMA_VERSION));
        }
        v
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.options.name
    }

    fn target(&self, n: &Notification) -> String {
        format!(
            "{} {} ({})",
            self.options.name,
            n.channel,
            self.url.redacted()
        )
    }

    fn accepts(&self, n: &Notification) -> bool {
        self.options.channels.is_empty() || self.options.channels.contains(&n.channel)
    }

    #[tracing::instrument(skip_all, fields(name = %self.options.name, channel = %n.channel))]
    async fn notify(&self, n: &Notification) -> Result<Delivery> {
        let body = Self::body(n);
        let url = self.url.expose();
        let mut secrets: Vec<&str> = vec![url.as_str(), url.path()];
        secrets.extend(self.options.headers.iter().map(|(_, v)| v.expose()));
        if let Some(q) = url.query() {
            secrets.push(q);
        }
        let call = Call {
            service: "webhook",
            target: self.url.redacted(),
            secrets: &secrets,
            retry: &self.options.retry,
            max_body: 16 * 1024,
            retry_on: retry_common,
        };
        let answer = web::send(&call, || {
            self.client
                .post(url.clone())
                .headers(self.headers.clone())
                .json(&body)
        })
        .await?;
        if !answer.is_success() {
            return Err(answer.error(&call));
        }
        Ok(Delivery {
            notifier: self.options.name.clone(),
            target: self.target(n),
            attempts: answer.attempts,
            reference: None,
        })
    }
}
