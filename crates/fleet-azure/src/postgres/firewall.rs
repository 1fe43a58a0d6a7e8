//! [`FirewallRules`]: the flexible server's IPv4 firewall rules (the runbook's security
//! containment: block or narrow who may connect).

use super::FlexibleServerClient;
use super::models::{FirewallRule, firewall_page, firewall_rule_from_arm};
use crate::error::{Error, Result};
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Finish, begin};
use crate::names::validate_firewall_rule_name;
use crate::options::{BeginOptions, ListOptions, ReadOptions};
use crate::outcome::Deletion;
use crate::pager::{ListPage, pager};
use async_trait::async_trait;
use azure_core::http::{Method, Pager, Poller};
use serde_json::json;

/// Firewall rules of one flexible server.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait FirewallRules: Send + Sync {
    /// Every rule, page by page.
    fn list_firewall_rules<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<FirewallRule>>>;

    /// One rule by name.
    async fn get_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<FirewallRule>;

    /// Creates `rule` or replaces the rule of that name. The poller's result is the rule as
    /// Azure reports it afterwards; a dry run returns the `PUT` instead.
    async fn begin_set_firewall_rule<'a>(
        &self,
        rule: &FirewallRule,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<FirewallRule>>>;

    /// Deletes a rule; deleting a missing one ends [`Deletion::AlreadyAbsent`].
    async fn begin_delete_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>>;
}

impl FlexibleServerClient {
    fn rule_request(&self, method: Method, name: &str, operation: String) -> Result<ArmRequest> {
        validate_firewall_rule_name(name)?;
        let url = self.url(&self.server_name, &["firewallRules", name])?;
        Ok(ArmRequest::new(operation, method, url))
    }
}

#[async_trait]
impl FirewallRules for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    fn list_firewall_rules<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<FirewallRule>>> {
        let url = self.url(&self.server_name, &["firewallRules"])?;
        pager(
            &self.http,
            format!("list firewall rules of {}", self.server_name),
            url,
            firewall_page,
            options.unwrap_or_default(),
        )
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, rule = name))]
    async fn get_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<FirewallRule> {
        let options = options.unwrap_or_default();
        let request = self.rule_request(
            Method::Get,
            name,
            format!("get firewall rule {name} of {}", self.server_name),
        )?;
        let reply = self
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        firewall_rule_from_arm(&request.operation, &reply.body)
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, rule = %rule.name))]
    async fn begin_set_firewall_rule<'a>(
        &self,
        rule: &FirewallRule,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<FirewallRule>>> {
        if u32::from(rule.start_ip_address) > u32::from(rule.end_ip_address) {
            return Err(Error::invalid(
                "end_ip_address",
                format!(
                    "{} comes before the start {}",
                    rule.end_ip_address, rule.start_ip_address
                ),
            ));
        }
        if rule.start_ip_address.is_unspecified() && rule.end_ip_address.is_broadcast() {
            tracing::warn!(rule = %rule.name, "this rule lets every IPv4 address connect");
        }
        let put = self
            .rule_request(
                Method::Put,
                &rule.name,
                format!(
                    "set firewall rule {} of {} to {}-{}",
                    rule.name, self.server_name, rule.start_ip_address, rule.end_ip_address
                ),
            )?
            .with_json(json!({
                "properties": {
                    "startIpAddress": rule.start_ip_address.to_string(),
                    "endIpAddress": rule.end_ip_address.to_string(),
                }
            }));
        let read = self.rule_request(
            Method::Get,
            &rule.name,
            format!("get firewall rule {}", rule.name),
        )?;
        let resource = read.url.to_string();
        begin(
            &self.http,
            put,
            Finish::Read {
                request: Box::new(read),
                convert: firewall_rule_from_arm,
            },
            Some(resource),
            None,
            options.unwrap_or_default(),
            &self.polling,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, rule = name))]
    async fn begin_delete_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>> {
        let request = self.rule_request(
            Method::Delete,
            name,
            format!("delete firewall rule {name} of {}", self.server_name),
        )?;
        begin(
            &self.http,
            request,
            Finish::Value(Deletion::Deleted),
            None,
            Some(Deletion::AlreadyAbsent),
            options.unwrap_or_default(),
            &self.polling,
        )
        .await
    }
}
