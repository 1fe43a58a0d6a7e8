//! [`ServerAdmin`]: changing the administrator password (`PATCH` of the server with
//! `administratorLoginPassword`). The password is only ever in the request body on the wire:
//! never in a log, an error, a `Debug` output or a dry run's planned request.

use super::FlexibleServerClient;
use super::models::{ServerInfo, server_from_arm};
use crate::error::{Error, Result};
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Finish, begin};
use crate::options::BeginOptions;
use crate::secrets::SecretValue;
use async_trait::async_trait;
use azure_core::http::{Method, Poller};
use serde_json::json;

/// The administrator account of one flexible server.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerAdmin: Send + Sync {
    /// Sets a new administrator password (the login name cannot change). The poller's result
    /// is the server afterwards; a dry run returns the `PATCH` with the password redacted.
    async fn begin_update_admin_password<'a>(
        &self,
        password: &SecretValue,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>>;
}

/// Azure's password rule for a flexible server administrator: 8 to 128 characters from at
/// least three of upper-case letters, lower-case letters, digits and other characters. The
/// error never contains the password.
pub(crate) fn validate_admin_password(password: &SecretValue) -> Result<()> {
    let text = password.expose();
    let len = text.chars().count();
    if !(8..=128).contains(&len) {
        return Err(Error::invalid(
            "administrator_password",
            "Azure requires 8 to 128 characters",
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(
            "administrator_password",
            "contains a control character",
        ));
    }
    let classes = [
        text.chars().any(|c| c.is_ascii_uppercase()),
        text.chars().any(|c| c.is_ascii_lowercase()),
        text.chars().any(|c| c.is_ascii_digit()),
        text.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err(Error::invalid(
            "administrator_password",
            "Azure requires three of: upper-case letters, lower-case letters, digits, other characters",
        ));
    }
    Ok(())
}

#[async_trait]
impl ServerAdmin for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    async fn begin_update_admin_password<'a>(
        &self,
        password: &SecretValue,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>> {
        validate_admin_password(password)?;
        let url = self.url(&self.server_name, &[])?;
        let patch = ArmRequest::new(
            format!("change the administrator password of {}", self.server_name),
            Method::Patch,
            url.clone(),
        )
        .with_json(json!({"properties": {"administratorLoginPassword": password.expose()}}))
        .with_secret_at("/properties/administratorLoginPassword");
        let read = ArmRequest::new(format!("get server {}", self.server_name), Method::Get, url);
        let resource = read.url.to_string();
        begin(
            &self.http,
            patch,
            Finish::Read {
                request: Box::new(read),
                convert: server_from_arm,
            },
            Some(resource),
            None,
            options.unwrap_or_default(),
            &self.polling,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules_never_echo_the_password() {
        assert!(validate_admin_password(&SecretValue::new("Str0ng-enough")).is_ok());
        for weak in [
            "short1A",
            "alllowercaseletters",
            "NoDigitsOrSymbols",
            &"Aa1!".repeat(40),
        ] {
            let e = validate_admin_password(&SecretValue::new(weak)).err();
            let text = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.is_empty(), "{weak} accepted");
            assert!(!text.contains(weak), "{text}");
        }
    }
}
