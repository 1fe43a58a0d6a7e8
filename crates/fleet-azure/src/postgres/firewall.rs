//! [`FirewallRules`]: the flexible server's IPv4 firewall rules (the runbook's security
//! containment: block or narrow who may connect).

use super::FlexibleServerClient;
use super::children::Children;
use super::models::{FirewallRule, firewall_page, firewall_rule_from_arm};
use crate::error::{Error, Result};
use crate::lro::ArmOperation;
use crate::names::validate_firewall_rule_name;
use crate::options::{BeginOptions, ListOptions, ReadOptions};
use crate::outcome::Deletion;
use crate::pager::ListPage;
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

/// The server's `firewallRules` collection.
const RULES: Children<FirewallRule> = Children {
    collection: "firewallRules",
    noun: "firewall rule",
    validate: validate_firewall_rule_name,
    convert: firewall_rule_from_arm,
    page: firewall_page,
};

#[async_trait]
impl FirewallRules for FlexibleServerClient {
    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group))]
    fn list_firewall_rules<'a>(
        &self,
        options: Option<ListOptions<'a>>,
    ) -> Result<Pager<ListPage<FirewallRule>>> {
        RULES.list(self, options)
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, rule = name))]
    async fn get_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<ReadOptions<'a>>,
    ) -> Result<FirewallRule> {
        RULES.get(self, name, options).await
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
        let put = RULES
            .request(
                self,
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
        RULES.begin_put(self, &rule.name, put, options).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server_name, resource_group = %self.resource_group, rule = name))]
    async fn begin_delete_firewall_rule<'a>(
        &self,
        name: &str,
        options: Option<BeginOptions<'a>>,
    ) -> Result<Poller<ArmOperation<Deletion>>> {
        RULES.begin_delete(self, name, options).await
    }
}
