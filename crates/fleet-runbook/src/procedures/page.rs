//! The runbook's "Slow page load (> 5 s)" check from outside, as a browser's first visit sees
//! it: one timed `GET` of the page, then its scripts and style sheets (what a browser must load
//! before it can show the page), a few at a time as a browser does, each with what its answer
//! says about compression and caching. [`slow_page_diagnosis`] judges the result (pure).

use std::time::{Duration, Instant};

use fleet_policy::metrics::{Metric, check};
use fleet_policy::{Finding, Outcome, Policy};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::common::{Diagnosis, Issue};
use crate::error::{Error, Result};

/// At most this many assets of one page are fetched.
const MAX_ASSETS: usize = 50;
/// Assets fetched at once (a browser's connections per host).
const ASSETS_AT_ONCE: usize = 6;
/// At most this much of an HTML page is read for its asset references.
const MAX_HTML: usize = 2 * 1024 * 1024;
/// A page and its assets over this many bytes are called heavy (1 MiB).
const HEAVY_PAGE: u64 = 1024 * 1024;

/// One timed `GET`: the page itself, or one of its assets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssetProbe {
    /// The URL, without its query (which may hold a token).
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Request sent → whole body read.
    pub elapsed: Duration,
    /// Body bytes as sent (compressed when the server compressed).
    pub bytes: u64,
    /// `Content-Encoding` (`gzip`, `br`), when the server compressed.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// A CDN's cache status (`X-Cache`, `CF-Cache-Status`, `X-Cache-Status`).
    pub cdn_cache: Option<String>,
}

impl AssetProbe {
    /// Neither a `Cache-Control` header nor a CDN's cache status.
    fn uncached(&self) -> bool {
        self.cache_control.is_none() && self.cdn_cache.is_none()
    }
}

/// What loading a page showed: the page's own answer (the fields of its `GET`) and its
/// scripts and style sheets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageProbe {
    /// The URL probed, without its query (which may hold a token).
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Request sent → whole body read.
    pub elapsed: Duration,
    /// Body bytes as sent (compressed when the server compressed).
    pub bytes: u64,
    /// `Content-Encoding` (`gzip`, `br`), when the server compressed.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// A CDN's cache status (`X-Cache`, `CF-Cache-Status`, `X-Cache-Status`).
    pub cdn_cache: Option<String>,
    /// The page's scripts and style sheets (at most 50), each fetched once.
    pub assets: Vec<AssetProbe>,
    /// The page and its assets, start to last byte.
    pub load_elapsed: Duration,
    /// Bytes of the page and its assets, as sent.
    pub total_bytes: u64,
}

/// The scripts (`<script src>`) and style sheets (`<link rel="stylesheet"|"modulepreload"
/// href>`) an HTML page references, resolved against `base`, http(s) only, each once, at most
/// 50, in the order of the page (pure).
pub fn page_assets(html: &str, base: &reqwest::Url) -> Vec<reqwest::Url> {
    let lower = html.to_ascii_lowercase();
    let mut out: Vec<reqwest::Url> = Vec::new();
    let mut at = 0;
    while let Some(open) = lower[at..].find('<').map(|i| at + i) {
        let end = lower[open..].find('>').map_or(lower.len(), |i| open + i);
        let tag = &html[open..end];
        let tag_lower = &lower[open..end];
        let reference = if tag_lower.starts_with("<script") {
            attribute(tag, tag_lower, "src")
        } else if tag_lower.starts_with("<link") {
            attribute(tag, tag_lower, "rel")
                .filter(|rel| {
                    rel.split_ascii_whitespace().any(|r| {
                        r.eq_ignore_ascii_case("stylesheet")
                            || r.eq_ignore_ascii_case("modulepreload")
                    })
                })
                .and_then(|_| attribute(tag, tag_lower, "href"))
        } else {
            None
        };
        if let Some(url) = reference.and_then(|r| base.join(r.trim()).ok())
            && matches!(url.scheme(), "http" | "https")
            && !out.contains(&url)
        {
            out.push(url);
            if out.len() == MAX_ASSETS {
                break;
            }
        }
        at = end.max(open + 1);
        // A script's text is not markup: go on after its end tag.
        if tag_lower.starts_with("<script") {
            at = lower[at..].find("</script").map_or(lower.len(), |i| at + i);
        }
    }
    out
}

/// The value of attribute `name` in one tag (`tag` as written, `lower` its ASCII lower case,
/// same byte positions): quoted with `"` or `'`, or bare.
fn attribute<'a>(tag: &'a str, lower: &str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| from + i) {
        from = i + name.len();
        let before = lower[..i].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let rest = lower[from..].trim_start();
        if !rest.starts_with('=') {
            continue;
        }
        let value_at = lower.len() - rest[1..].trim_start().len();
        let value = &tag[value_at..];
        return match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].find(q).map(|j| &value[1..1 + j]),
            // Bare: up to the next space; a `/>` that closes the tag is not part of it.
            Some(_) => value
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .map(|v| v.strip_suffix('/').filter(|v| !v.is_empty()).unwrap_or(v)),
            None => None,
        };
    }
    None
}

/// `url` without its query or fragment (both may hold tokens), for reports and errors.
fn shown(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map_or_else(String::new, |p| format!(":{p}")),
        url.path()
    )
}

/// One timed `GET`, asking for compression; keeps up to `keep` bytes of the body.
async fn fetch(
    client: &reqwest::Client,
    url: reqwest::Url,
    keep: usize,
) -> Result<(AssetProbe, Vec<u8>)> {
    let target = shown(&url);
    let transport = |e: &reqwest::Error| Error::Transport {
        service: "page",
        target: target.clone(),
        attempts: 1,
        timeout: e.is_timeout(),
        detail: crate::http::describe(e),
    };
    let started = Instant::now();
    let mut response = client
        .get(url)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .map_err(|e| transport(&e))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let content_encoding = header("content-encoding");
    let cache_control = header("cache-control");
    let cdn_cache = header("x-cache")
        .or_else(|| header("cf-cache-status"))
        .or_else(|| header("x-cache-status"));
    let mut bytes = 0u64;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        bytes += chunk.len() as u64;
        if body.len() < keep {
            let room = keep - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
    let probe = AssetProbe {
        url: target.clone(),
        status,
        elapsed: started.elapsed(),
        bytes,
        content_encoding,
        cache_control,
        cdn_cache,
    };
    Ok((probe, body))
}

/// Loads the page at `url` as a browser's first visit would: one timed `GET` (asking for
/// compression, the whole body read), then, for an uncompressed HTML answer, its scripts and
/// style sheets, six at a time, each within `timeout`. An asset that gives no answer is
/// recorded with status 0. The URL's query is never put in a report or an error.
///
/// # Errors
/// [`Error::InvalidInput`] for a URL that is not http(s); [`Error::Transport`] when the page
/// gave no answer.
pub async fn probe_page(url: &str, timeout: Duration) -> Result<PageProbe> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::invalid("page url", "an http or https URL"))?;
    let client = crate::http::client(timeout)?;
    let started = Instant::now();
    let (page, body) = fetch(&client, parsed.clone(), MAX_HTML).await?;
    // A compressed body cannot be read for references here; its assets are not fetched.
    let html = if page.content_encoding.is_none() {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        String::new()
    };
    let assets: Vec<AssetProbe> = stream::iter(page_assets(&html, &parsed))
        .map(|asset| {
            let client = &client;
            async move {
                let shown_url = shown(&asset);
                match fetch(client, asset, 0).await {
                    Ok((probe, _)) => probe,
                    Err(_) => AssetProbe {
                        url: shown_url,
                        status: 0,
                        elapsed: Duration::ZERO,
                        bytes: 0,
                        content_encoding: None,
                        cache_control: None,
                        cdn_cache: None,
                    },
                }
            }
        })
        .buffered(ASSETS_AT_ONCE)
        .collect()
        .await;
    let total_bytes = page.bytes + assets.iter().map(|a| a.bytes).sum::<u64>();
    Ok(PageProbe {
        url: page.url,
        status: page.status,
        elapsed: page.elapsed,
        bytes: page.bytes,
        content_encoding: page.content_encoding,
        cache_control: page.cache_control,
        cdn_cache: page.cdn_cache,
        assets,
        load_elapsed: started.elapsed(),
        total_bytes,
    })
}

/// Judges a probe (pure): fleet-policy's `metrics.response-time` finding on the page's own
/// answer, and a diagnosis when it is outside the normal band or the answer was an error, with
/// what the page and its assets show (their weight, the load time, compression, caching) and
/// the runbook's solutions for what they lack.
pub fn slow_page_diagnosis(policy: &Policy, probe: &PageProbe) -> (Finding, Option<Diagnosis>) {
    let ms = probe.elapsed.as_secs_f64() * 1000.0;
    let finding = check(&policy.metrics, &probe.url, Metric::ResponseTime, Some(ms));
    if finding.outcome == Outcome::Pass && probe.status < 400 {
        return (finding, None);
    }
    let mut evidence = vec![format!(
        "GET answered {} in {:.0} ms with {} bytes",
        probe.status, ms, probe.bytes
    )];
    let mut actions = Vec::new();
    if !probe.assets.is_empty() {
        evidence.push(format!(
            "page load: the page and {} scripts and style sheets, {} KiB in {:.0} ms",
            probe.assets.len(),
            probe.total_bytes / 1024,
            probe.load_elapsed.as_secs_f64() * 1000.0
        ));
    }
    if probe.total_bytes > HEAVY_PAGE {
        evidence.push(format!(
            "the page is heavy ({} KiB with its assets)",
            probe.total_bytes / 1024
        ));
        actions.push("enable code splitting and optimize images".to_owned());
    }
    let failed: Vec<&str> = probe
        .assets
        .iter()
        .filter(|a| a.status == 0 || a.status >= 400)
        .map(|a| a.url.as_str())
        .collect();
    if !failed.is_empty() {
        evidence.push(format!("assets that failed: {}", failed.join(", ")));
    }
    let plain: Vec<&AssetProbe> = probe
        .assets
        .iter()
        .filter(|a| a.status == 200 && a.content_encoding.is_none())
        .collect();
    match &probe.content_encoding {
        Some(e) => evidence.push(format!("compressed ({e})")),
        None => evidence.push("not compressed".to_owned()),
    }
    if !plain.is_empty() {
        let largest = plain
            .iter()
            .max_by_key(|a| a.bytes)
            .map_or(String::new(), |a| {
                format!(", the largest {} ({} KiB)", a.url, a.bytes / 1024)
            });
        evidence.push(format!("{} assets not compressed{largest}", plain.len()));
    }
    if probe.content_encoding.is_none() || !plain.is_empty() {
        actions.push("enable gzip or brotli compression".to_owned());
    }
    match (&probe.cache_control, &probe.cdn_cache) {
        (_, Some(c)) => evidence.push(format!("CDN cache: {c}")),
        (Some(c), None) => evidence.push(format!("Cache-Control: {c}; no CDN cache header")),
        (None, None) => evidence.push("no Cache-Control and no CDN cache header".to_owned()),
    }
    let uncached = probe.assets.iter().filter(|a| a.uncached()).count();
    if uncached > 0 {
        evidence.push(format!(
            "{uncached} assets without Cache-Control or a CDN cache header"
        ));
    }
    if (probe.cache_control.is_none() && probe.cdn_cache.is_none()) || uncached > 0 {
        actions.push("add CDN caching and cache headers for static assets".to_owned());
    }
    let missed = std::iter::once(probe.cdn_cache.as_deref())
        .chain(probe.assets.iter().map(|a| a.cdn_cache.as_deref()))
        .flatten()
        .any(|c| {
            let c = c.to_ascii_uppercase();
            c.contains("MISS") || c.contains("BYPASS")
        });
    if missed {
        actions.push("check the CDN's cache hit rate and rules for this path".to_owned());
    }
    actions.push(
        "check the API's response times (App Insights dependencies, the slowest queries)"
            .to_owned(),
    );
    let diagnosis = Diagnosis {
        issue: Issue::SlowPage,
        subject: probe.url.clone(),
        evidence,
        actions,
    };
    (finding, Some(diagnosis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> reqwest::Url {
        reqwest::Url::parse("https://fleet.example.com/app/index.html?token=x").expect("url")
    }

    #[test]
    fn scripts_and_style_sheets_are_found_resolved_and_kept_once() {
        let html = r#"<!doctype html><html><head>
            <LINK rel="stylesheet" href="/static/app.css">
            <link rel=icon href="/favicon.ico">
            <link rel="modulepreload" href='chunk.js'>
            <script src="https://cdn.example.net/vendor.js" defer></script>
            <script>var inline = "<script src='not-a-tag.js'>";</script>
            <script type="module" src=/static/app.js></script>
            <script src="/static/app.js"></script>
            <script src="data:text/javascript,1"></script>
            <img src="/logo.png">
            <a href="/static/other.css">x</a>
        </head></html>"#;
        let found: Vec<String> = page_assets(html, &base())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "https://fleet.example.com/static/app.css",
                "https://fleet.example.com/app/chunk.js",
                "https://cdn.example.net/vendor.js",
                "https://fleet.example.com/static/app.js",
            ]
        );
    }

    #[test]
    fn odd_markup_never_panics_and_finds_nothing_it_should_not() {
        for html in [
            "",
            "<",
            "<script",
            "<script src=",
            "<script src=\"unterminated",
            "<link rel=stylesheet href",
            "<scriptsrc=\"x.js\">",
            "<script xsrc=\"x.js\">",
            "<link rel=\"stylesheet\">",
            "<script src=\"é/ü.js\"><ß>",
        ] {
            let found = page_assets(html, &base());
            assert!(
                found.iter().all(|u| u.path().ends_with(".js")),
                "{html:?}: {found:?}"
            );
        }
        assert!(page_assets("<scriptsrc=\"x.js\">", &base()).is_empty());
        assert!(page_assets("<script xsrc=\"x.js\">", &base()).is_empty());
        let many: String = (0..80)
            .map(|i| format!("<script src=\"/s{i}.js\"></script>"))
            .collect();
        assert_eq!(page_assets(&many, &base()).len(), MAX_ASSETS);
    }

    fn asset(url: &str, bytes: u64, encoding: Option<&str>, cache: Option<&str>) -> AssetProbe {
        AssetProbe {
            url: url.into(),
            status: 200,
            elapsed: Duration::from_millis(40),
            bytes,
            content_encoding: encoding.map(str::to_owned),
            cache_control: cache.map(str::to_owned),
            cdn_cache: None,
        }
    }

    #[test]
    fn a_slow_page_names_its_heavy_uncompressed_uncached_assets() {
        let probe = PageProbe {
            url: "https://fleet.example.com/".into(),
            status: 200,
            elapsed: Duration::from_millis(2_600),
            bytes: 4_000,
            content_encoding: Some("gzip".into()),
            cache_control: Some("no-cache".into()),
            cdn_cache: None,
            assets: vec![
                asset("https://fleet.example.com/app.js", 1_800_000, None, None),
                asset(
                    "https://fleet.example.com/app.css",
                    30_000,
                    Some("br"),
                    Some("max-age=86400"),
                ),
            ],
            load_elapsed: Duration::from_millis(5_400),
            total_bytes: 1_834_000,
        };
        let (finding, diagnosis) = slow_page_diagnosis(&Policy::default(), &probe);
        assert_ne!(finding.outcome, Outcome::Pass);
        let d = diagnosis.expect("diagnosed");
        let evidence = d.evidence.join("\n");
        for want in [
            "the page and 2 scripts and style sheets, 1791 KiB in 5400 ms",
            "heavy (1791 KiB with its assets)",
            "1 assets not compressed, the largest https://fleet.example.com/app.js (1757 KiB)",
            "1 assets without Cache-Control or a CDN cache header",
        ] {
            assert!(evidence.contains(want), "{want:?} in\n{evidence}");
        }
        for want in [
            "enable code splitting and optimize images",
            "enable gzip or brotli compression",
            "add CDN caching and cache headers for static assets",
        ] {
            assert!(
                d.actions.iter().any(|a| a == want),
                "{want} in {:?}",
                d.actions
            );
        }
    }
}
