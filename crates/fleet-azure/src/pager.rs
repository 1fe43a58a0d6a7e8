//! ARM lists (`{"value":[..],"nextLink":".."}`) as azure_core [`Pager`]s.
//!
//! Each page is read within the operation deadline and the size cap; `nextLink` is followed
//! verbatim (its query often names another api-version and a `$skiptoken`) once it has passed
//! the same-origin check, and at most [`crate::Limits::max_pages`] pages are read. A pager can
//! be resumed from a saved `nextLink` ([`crate::ListOptions::continuation`]).

use crate::error::{Error, Result};
use crate::http::{ArmRequest, Http, same_origin};
use crate::options::ListOptions;
use async_trait::async_trait;
use azure_core::http::pager::{PagerContinuation, PagerOptions, PagerResult, PagerState};
use azure_core::http::{Method, Pager, RawResponse, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tracing::Instrument;

/// One page of a list: the items, already converted, and the link to the next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ListPage<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The next page's URL, when there is one.
    pub next_link: Option<String>,
}

#[async_trait]
impl<T> azure_core::http::pager::Page for ListPage<T>
where
    T: Send,
{
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    async fn into_items(self) -> azure_core::Result<Self::IntoIter> {
        Ok(self.items.into_iter())
    }
}

/// Reads one page body into items and the next link.
pub(crate) type ParsePage<T> = fn(&str, &[u8]) -> Result<(Vec<T>, Option<String>)>;

/// An ARM `{"value":[..],"nextLink"}` page of `A`s, each converted with `into`.
pub(crate) fn arm_page<A, T>(
    operation: &str,
    body: &[u8],
    into: impl Fn(&str, A) -> Result<T>,
) -> Result<(Vec<T>, Option<String>)>
where
    A: DeserializeOwned,
{
    #[derive(Deserialize)]
    struct Raw<A> {
        value: Vec<A>,
        #[serde(rename = "nextLink")]
        next_link: Option<String>,
    }
    let raw: Raw<A> = serde_json::from_slice(body)
        .map_err(|e| Error::response(operation, format!("not a list page: {e}")))?;
    let items = raw
        .value
        .into_iter()
        .map(|a| into(operation, a))
        .collect::<Result<Vec<T>>>()?;
    Ok((items, raw.next_link.filter(|l| !l.trim().is_empty())))
}

/// A pager over the list at `first`.
pub(crate) fn pager<T>(
    http: &Http,
    operation: String,
    first: Url,
    parse: ParsePage<T>,
    options: ListOptions<'_>,
) -> Result<Pager<ListPage<T>>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let continuation = match &options.continuation {
        Some(link) => Some(PagerContinuation::Link(same_origin(
            &operation,
            &http.endpoint,
            link,
        )?)),
        None => None,
    };
    let http = http.clone();
    let pages = Arc::new(AtomicU32::new(0));
    let span = tracing::Span::current();
    let pager_options = PagerOptions {
        context: options.method_options.context.into_owned(),
        continuation,
    };
    Ok(Pager::new(
        move |state: PagerState, options: PagerOptions<'static>| {
            let http = http.clone();
            let operation = operation.clone();
            let first = first.clone();
            let pages = Arc::clone(&pages);
            let future = async move {
                let url = match state {
                    PagerState::Initial => first,
                    PagerState::More(PagerContinuation::Link(url)) => url,
                    PagerState::More(other) => {
                        same_origin(&operation, &http.endpoint, other.as_ref())
                            .map_err(Error::into_azure)?
                    }
                };
                let n = pages.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                if n > http.limits.max_pages {
                    return Err(Error::response(
                        &operation,
                        format!("more than {} pages", http.limits.max_pages),
                    )
                    .into_azure());
                }
                let request = ArmRequest::new(operation.clone(), Method::Get, url);
                let reply = http
                    .send_ok(&options.context, &request)
                    .await
                    .map_err(Error::into_azure)?;
                let (items, next) = parse(&operation, &reply.body).map_err(Error::into_azure)?;
                let next = match next {
                    Some(link) => Some(
                        same_origin(&operation, &http.endpoint, &link)
                            .map_err(Error::into_azure)?,
                    ),
                    None => None,
                };
                tracing::debug!(
                    page = n,
                    items = items.len(),
                    more = next.is_some(),
                    "list page"
                );
                let page = ListPage {
                    items,
                    next_link: next.as_ref().map(Url::to_string),
                };
                let body = serde_json::to_vec(&page).map_err(|e| {
                    Error::response(&operation, format!("encoding a page: {e}")).into_azure()
                })?;
                let response = RawResponse::from_bytes(StatusCode::Ok, reply.headers, body).into();
                Ok(match next {
                    Some(url) => PagerResult::More {
                        response,
                        continuation: PagerContinuation::Link(url),
                    },
                    None => PagerResult::Done { response },
                })
            };
            Box::pin(future.instrument(span.clone()))
        },
        Some(pager_options),
    ))
}
