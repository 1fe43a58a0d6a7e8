//! [`ServerRestore`]: the runbook's `az postgres flexible-server restore` (point-in-time
//! restore into a new server), resumable, and server reads.

use super::FlexibleServerClient;
use super::models::{RestoreRequest, ServerInfo, server_from_arm};
use crate::error::{Error, Result};
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Finish, ResumeToken, begin, resume};
use crate::names::validate_server_name;
use crate::options::{BeginOptions, ReadOptions, ResumeOptions};
use async_trait::async_trait;
use azure_core::http::{Method, Poller};
use jiff::Timestamp;
use serde_json::json;

/// Point-in-time restore and server reads.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ServerRestore: Send + Sync {
    /// Validates the request (target name, a new server, a time not in the future and not
    /// before the source's earliest restore point), reads the source server, then starts the
    /// restore. The poller's result is the new server; a dry run returns the `PUT` instead.
    async fn begin_point_in_time_restore<'a>(
        &self,
        request: &RestoreRequest,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>>;

    /// Picks a restore up again from the resume token a status (or a timeout) carried.
    fn resume_point_in_time_restore<'a>(
        &self,
        token: &ResumeToken,
        options: Option<ResumeOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>>;

    /// Reads a server of the client's resource group: state, version, FQDN, restore window.
    async fn get_server<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerInfo>;
}

/// A restore point must not be in the future, nor before the source's earliest restore point.
/// Pure; Azure's facts only (a recovery policy is the caller's).
pub(crate) fn check_restore_time(
    point: Timestamp,
    now: Timestamp,
    earliest: Option<Timestamp>,
) -> Result<()> {
    if point > now {
        return Err(Error::invalid(
            "point_in_time",
            format!("{point} is in the future (now is {now})"),
        ));
    }
    if let Some(earliest) = earliest
        && point < earliest
    {
        return Err(Error::invalid(
            "point_in_time",
            format!("{point} is before the server's earliest restore point {earliest}"),
        ));
    }
    Ok(())
}

impl FlexibleServerClient {
    fn server_request(&self, method: Method, name: &str, operation: String) -> Result<ArmRequest> {
        validate_server_name(name)?;
        Ok(ArmRequest::new(operation, method, self.url(name, &[])?))
    }
}

#[async_trait]
impl ServerRestore for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, target = %request.target_server_name))]
    async fn begin_point_in_time_restore<'a>(
        &self,
        request: &RestoreRequest,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>> {
        let options = options.unwrap_or_default();
        validate_server_name(&request.target_server_name)?;
        let source = request
            .source_server_name
            .clone()
            .unwrap_or_else(|| self.server_name.clone());
        validate_server_name(&source)?;
        if source == request.target_server_name {
            return Err(Error::invalid(
                "target_server_name",
                "a point-in-time restore goes into a new server, not the source",
            ));
        }
        let now = Timestamp::now();
        check_restore_time(request.point_in_time, now, None)?;
        let source_info = self
            .get_server(
                &source,
                Some(ReadOptions {
                    method_options: options.method_options.clone(),
                }),
            )
            .await?;
        check_restore_time(request.point_in_time, now, source_info.earliest_restore)?;
        let body = json!({
            "location": source_info.location,
            "properties": {
                "createMode": "PointInTimeRestore",
                "sourceServerResourceId": self.resource_id(&source),
                "pointInTimeUTC": request.point_in_time.to_string(),
            }
        });
        let operation = format!(
            "point-in-time restore of {source} at {} into {}",
            request.point_in_time, request.target_server_name
        );
        let put = self
            .server_request(Method::Put, &request.target_server_name, operation)?
            .with_json(body);
        let read = self.server_request(
            Method::Get,
            &request.target_server_name,
            format!("get server {}", request.target_server_name),
        )?;
        let resource = read.url.to_string();
        begin(
            &self.http,
            put,
            Finish::Read {
                request: Box::new(read),
                convert: server_from_arm,
            },
            Some(resource),
            None,
            options,
            &self.polling,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, status_url = %token.status_url))]
    fn resume_point_in_time_restore<'a>(
        &self,
        token: &ResumeToken,
        options: Option<ResumeOptions<'a>>,
    ) -> Result<Poller<ArmOperation<ServerInfo>>> {
        let options = options.unwrap_or_default();
        // The resource to read at the end must be a server of this client's group: rebuild
        // its URL from the name and require the token to say exactly that.
        let resource = token.resource_url.as_deref().ok_or_else(|| {
            Error::invalid(
                "resume_token",
                "a restore's token names the restored server",
            )
        })?;
        let name = resource
            .split('?')
            .next()
            .and_then(|path| path.rsplit('/').next())
            .unwrap_or_default();
        let read = self.server_request(Method::Get, name, format!("get server {name}"))?;
        if read.url.as_str() != resource {
            return Err(Error::invalid(
                "resume_token",
                format!(
                    "{resource} is not a server of resource group {}",
                    self.resource_group
                ),
            ));
        }
        resume(
            &self.http,
            token.clone(),
            Finish::Read {
                request: Box::new(read),
                convert: server_from_arm,
            },
            options.polling.unwrap_or_else(|| self.polling.clone()),
            options.method_options.context.into_owned(),
        )
    }

    #[tracing::instrument(skip_all, fields(server = %name, resource_group = %self.resource_group))]
    async fn get_server<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<ServerInfo> {
        let options = options.unwrap_or_default();
        let request = self.server_request(Method::Get, name, format!("get server {name}"))?;
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        server_from_arm(&request.operation, &reply.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn restore_times_follow_azures_facts_only() {
        let now = ts("2025-06-08T00:00:00Z");
        assert!(check_restore_time(ts("2025-06-07T00:00:00Z"), now, None).is_ok());
        assert!(check_restore_time(now, now, None).is_ok());
        // No retention window here: that is the caller's policy.
        assert!(check_restore_time(ts("2020-01-01T00:00:00Z"), now, None).is_ok());
        let e = check_restore_time(ts("2025-06-08T00:00:01Z"), now, None).err();
        assert!(e.is_some_and(|e| e.to_string().contains("future")));
        let e = check_restore_time(
            ts("2025-06-02T00:00:00Z"),
            now,
            Some(ts("2025-06-03T00:00:00Z")),
        )
        .err();
        assert!(e.is_some_and(|e| e.to_string().contains("earliest")));
    }
}
