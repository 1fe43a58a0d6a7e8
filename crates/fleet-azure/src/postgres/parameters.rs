//! [`ServerParameters`]: read and change a server parameter (the runbook's
//! `max_connections` headroom, `statement_timeout`...).

use super::FlexibleServerClient;
use super::models::{ServerParameter, parameter_from_arm};
use crate::error::{Error, Result};
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Finish, begin};
use crate::names::validate_parameter_name;
use crate::options::{BeginOptions, ReadOptions};
use async_trait::async_trait;
use azure_core::http::{Method, Poller};
use serde_json::json;

/// Server parameters of one flexible server.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerParameters: Send + Sync {
    /// One parameter: its value and whether a change needs a restart.
    async fn get_parameter<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerParameter>;

    /// Sets `name` to `value` (a string, even for numbers) as a user override. A static
    /// parameter (`is_dynamic == Some(false)`) takes effect only after a restart, which the
    /// result's `is_pending_restart` shows. A dry run returns the `PATCH` instead.
    async fn begin_update_parameter<'a>(
        &self,
        name: &str,
        value: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerParameter>>>;
}

/// Longest parameter value accepted.
const MAX_VALUE_LEN: usize = 8192;

fn validate_value(value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::invalid(
            "parameter_value",
            format!("{} bytes; at most {MAX_VALUE_LEN}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "parameter_value",
            format!("{value:?} contains a control character"),
        ));
    }
    Ok(())
}

impl FlexibleServerClient {
    fn parameter_request(
        &self,
        method: Method,
        name: &str,
        operation: String,
    ) -> Result<ArmRequest> {
        validate_parameter_name(name)?;
        let url = self.url(&self.server_name, &["configurations", name])?;
        Ok(ArmRequest::new(operation, method, url))
    }
}

#[async_trait]
impl ServerParameters for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, parameter = name))]
    async fn get_parameter<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerParameter> {
        let options = options.unwrap_or_default();
        let request = self.parameter_request(
            Method::Get,
            name,
            format!("get parameter {name} of {}", self.server_name),
        )?;
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        parameter_from_arm(&request.operation, &reply.body)
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, parameter = name))]
    async fn begin_update_parameter<'a>(
        &self,
        name: &str,
        value: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerParameter>>> {
        validate_value(value)?;
        let patch = self
            .parameter_request(
                Method::Patch,
                name,
                format!("set parameter {name} of {} to {value:?}", self.server_name),
            )?
            .with_json(json!({"properties": {"value": value, "source": "user-override"}}));
        let read = self.parameter_request(Method::Get, name, format!("get parameter {name}"))?;
        let resource = read.url.to_string();
        begin(
            &self.http,
            patch,
            Finish::Read {
                request: Box::new(read),
                convert: parameter_from_arm,
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
    fn values_are_bounded_text() {
        assert!(validate_value("on").is_ok());
        assert!(validate_value("").is_ok());
        assert!(validate_value("pg_stat_statements,pg_cron").is_ok());
        assert!(validate_value("a\nb").is_err());
        assert!(validate_value(&"x".repeat(MAX_VALUE_LEN + 1)).is_err());
    }
}
