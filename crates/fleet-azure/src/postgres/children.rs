//! The shape every child collection of a flexible server shares (`backups/{name}`,
//! `firewallRules/{name}`): list page by page, get by name, put then read back, delete. Each
//! collection states its path segment, its noun for operation names and its validators and
//! converters once; [`super::ServerBackups`] and [`super::FirewallRules`] are thin over it.

use super::FlexibleServerClient;
use crate::error::Result;
use crate::http::ArmRequest;
use crate::lro::{ArmOperation, Convert, Finish, begin};
use crate::options::{BeginOptions, ListOptions, ReadOptions};
use crate::outcome::Deletion;
use crate::pager::{ListPage, ParsePage, pager};
use azure_core::http::{Method, Pager, Poller};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One kind of child resource of a flexible server.
pub(super) struct Children<T: 'static> {
    /// The collection's path segment under the server, e.g. `backups`.
    pub(super) collection: &'static str,
    /// How operation names call one, e.g. `backup`, `firewall rule`.
    pub(super) noun: &'static str,
    /// Azure's naming rule for a child; checked before any URL is built.
    pub(super) validate: fn(&str) -> Result<()>,
    /// One child from its ARM JSON.
    pub(super) convert: Convert<T>,
    /// One page of the collection.
    pub(super) page: ParsePage<T>,
}

impl<T> Children<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The request for the child `name` (validated), named `operation` in errors.
    pub(super) fn request(
        &self,
        client: &FlexibleServerClient,
        method: Method,
        name: &str,
        operation: String,
    ) -> Result<ArmRequest> {
        (self.validate)(name)?;
        let url = client.url(&client.server_name, &[self.collection, name])?;
        Ok(ArmRequest::new(operation, method, url))
    }

    /// Every child, page by page.
    pub(super) fn list(
        &self,
        client: &FlexibleServerClient,
        options: Option<ListOptions<'_>>,
    ) -> Result<Pager<ListPage<T>>> {
        let url = client.url(&client.server_name, &[self.collection])?;
        pager(
            &client.http,
            format!("list {}s of {}", self.noun, client.server_name),
            url,
            self.page,
            options.unwrap_or_default(),
        )
    }

    /// One child by name.
    pub(super) async fn get(
        &self,
        client: &FlexibleServerClient,
        name: &str,
        options: Option<ReadOptions<'_>>,
    ) -> Result<T> {
        let options = options.unwrap_or_default();
        let request = self.request(
            client,
            Method::Get,
            name,
            format!("get {} {name} of {}", self.noun, client.server_name),
        )?;
        let reply = client
            .http
            .send_ok(&options.method_options.context, &request)
            .await?;
        (self.convert)(&request.operation, &reply.body)
    }

    /// Sends `put` (a request for the child `name`) as a long-running operation whose result is
    /// the child read back afterwards.
    pub(super) async fn begin_put(
        &self,
        client: &FlexibleServerClient,
        name: &str,
        put: ArmRequest,
        options: Option<BeginOptions<'_>>,
    ) -> Result<Poller<ArmOperation<T>>> {
        let read = self.request(
            client,
            Method::Get,
            name,
            format!("get {} {name}", self.noun),
        )?;
        let resource = read.url.to_string();
        begin(
            &client.http,
            put,
            Finish::Read {
                request: Box::new(read),
                convert: self.convert,
            },
            Some(resource),
            None,
            options.unwrap_or_default(),
            &client.polling,
        )
        .await
    }

    /// Deletes the child `name`; a missing one ends [`Deletion::AlreadyAbsent`].
    pub(super) async fn begin_delete(
        &self,
        client: &FlexibleServerClient,
        name: &str,
        options: Option<BeginOptions<'_>>,
    ) -> Result<Poller<ArmOperation<Deletion>>> {
        let request = self.request(
            client,
            Method::Delete,
            name,
            format!("delete {} {name} of {}", self.noun, client.server_name),
        )?;
        begin(
            &client.http,
            request,
            Finish::Value(Deletion::Deleted),
            None,
            Some(Deletion::AlreadyAbsent),
            options.unwrap_or_default(),
            &client.polling,
        )
        .await
    }
}
