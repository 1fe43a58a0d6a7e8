//! Slack incoming webhooks: `POST <webhook URL>` with a JSON message (`text` as the
//! notification fallback, `blocks` for the layout); success is HTTP 200 with the body `ok`,
//! errors are plain strings (`invalid_payload`, `channel_not_found`...), 429 carries
//! `Retry-After`. An app's webhook posts to the channel chosen when it was installed, so each
//! channel (`#deployments`, `#incidents`) has its own URL.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Delivery, Notification, Notifier, truncate};
use crate::error::{Error, Result};
use crate::http::{self, Call, RetryOptions, retry_common};
use crate::notify::Channel;
use crate::secret::SecretUrl;

/// Slack's cap on `text` (longer messages are truncated by Slack).
const TEXT_MAX: usize = 40_000;
/// Slack's cap on a text object in a block.
const BLOCK_TEXT_MAX: usize = 3_000;

/// Tunables of [`SlackNotifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackOptions {
    /// Per-request timeout (10 s).
    pub timeout: Duration,
    /// Retries of 429, 5xx and connection failures.
    pub retry: RetryOptions,
}

impl Default for SlackOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
        }
    }
}

/// Posts notifications to Slack channels through incoming webhooks.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    webhooks: BTreeMap<Channel, SecretUrl>,
    options: SlackOptions,
    client: reqwest::Client,
}

impl SlackNotifier {
    /// A notifier posting each channel's notifications to its incoming webhook (secret:
    /// whoever has the URL can post); `None` options are the defaults.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when no webhook is given or the HTTP client cannot be built.
    pub fn new(
        webhooks: BTreeMap<Channel, SecretUrl>,
        options: Option<SlackOptions>,
    ) -> Result<Self> {
        if webhooks.is_empty() {
            return Err(Error::invalid(
                "slack.webhooks",
                "no channel has a webhook URL",
            ));
        }
        let options = options.unwrap_or_default();
        let client = http::client(options.timeout)?;
        Ok(Self {
            webhooks,
            options,
            client,
        })
    }

    /// The JSON message for `n` (what is posted).
    pub fn payload(n: &Notification) -> Value {
        let icon = match (n.action, n.severity) {
            (super::Action::Resolve, _) => ":white_check_mark:",
            (_, super::Severity::Critical) => ":rotating_light:",
            (_, super::Severity::Error) => ":x:",
            (_, super::Severity::Warning) => ":warning:",
            (_, super::Severity::Info) => ":information_source:",
        };
        let title = escape(&n.title);
        let body = escape(&n.body);
        let mut context = format!(
            "{} · {} · source `{}`",
            n.action.as_str(),
            n.severity.as_str(),
            escape(&n.source)
        );
        if let Some(key) = &n.key {
            context.push_str(&format!(" · key `{}`", escape(key)));
        }
        context.push_str(&format!(" · {}", n.at));
        let links: Vec<String> = n
            .links
            .iter()
            .filter(|l| !l.href.contains(['<', '>', '|', ' ']))
            .map(|l| format!("<{}|{}>", l.href, escape(&l.text)))
            .collect();

        let headline = format!("{icon} *{title}*");
        let section = if body.is_empty() {
            headline.clone()
        } else {
            format!("{headline}\n{body}")
        };
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&section, BLOCK_TEXT_MAX)},
        })];
        if !links.is_empty() {
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(&links.join(" · "), BLOCK_TEXT_MAX)},
            }));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": truncate(&context, BLOCK_TEXT_MAX)}],
        }));
        let fallback = if n.body.is_empty() {
            format!("{icon} {title}")
        } else {
            format!("{icon} {title}\n{body}")
        };
        json!({
            "text": truncate(&fallback, TEXT_MAX),
            "blocks": blocks,
        })
    }
}

/// Slack's three control characters in text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        "slack"
    }

    fn target(&self, n: &Notification) -> String {
        format!("slack {}", n.channel)
    }

    fn accepts(&self, n: &Notification) -> bool {
        self.webhooks.contains_key(&n.channel)
    }

    #[tracing::instrument(skip_all, fields(channel = %n.channel, action = n.action.as_str()))]
    async fn notify(&self, n: &Notification) -> Result<Delivery> {
        let url = self.webhooks.get(&n.channel).ok_or_else(|| {
            Error::invalid("slack.webhooks", format!("no webhook for {}", n.channel))
        })?;
        let body = Self::payload(n);
        let secret_path = url.expose().as_str();
        let secrets = [secret_path, url.expose().path()];
        let call = Call {
            service: "slack",
            target: format!("{} ({})", url.redacted(), n.channel),
            secrets: &secrets,
            retry: &self.options.retry,
            max_body: 16 * 1024,
            retry_on: retry_common,
        };
        let answer =
            http::send(&call, || self.client.post(url.expose().clone()).json(&body)).await?;
        if answer.status != 200 {
            return Err(answer.error(&call));
        }
        Ok(Delivery {
            notifier: "slack".into(),
            target: self.target(n),
            attempts: answer.attempts,
            reference: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Action, Severity};

    #[test]
    fn payload_escapes_and_caps() {
        let n = Notification::new(
            Channel::deployments(),
            Action::Post,
            Severity::Info,
            "deploy <v1.2.3> & more",
            "fleet-api",
            jiff::Timestamp::UNIX_EPOCH,
        )
        .with_body("x".repeat(5000))
        .with_link("https://dash.example/d?a=1", "dashboard");
        let p = SlackNotifier::payload(&n);
        let section = p["blocks"][0]["text"]["text"].as_str().expect("text");
        assert!(section.contains("deploy &lt;v1.2.3&gt; &amp; more"));
        assert_eq!(section.chars().count(), BLOCK_TEXT_MAX);
        assert!(p["text"].as_str().expect("text").len() > BLOCK_TEXT_MAX);
        assert_eq!(
            p["blocks"][1]["text"]["text"],
            "<https://dash.example/d?a=1|dashboard>"
        );
    }
}
