//! The activity log: `GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/
//! management/values` with the one `$filter` grammar the API accepts.

use super::examples::at;
use super::state::{Incoming, Reply, State};
use super::{ACTIVITY_LOG_API_VERSION, ACTIVITY_SUBSCRIPTION_ID};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The activity log's error shape: `code` and `message` at the top level.
fn bad_request(message: &str) -> Reply {
    Reply::json(400, &json!({"code": "BadRequest", "message": message}))
}

/// A parsed `$filter`.
#[derive(Debug, PartialEq, Eq)]
struct Filter {
    start: Timestamp,
    end: Timestamp,
    field: Option<(String, String)>,
}

fn quoted(text: &str) -> Option<&str> {
    text.strip_prefix('\'')?.strip_suffix('\'')
}

/// `eventTimestamp ge '<t>' and eventTimestamp le '<t>'` optionally followed by
/// `and <field> eq '<value>'` for one of the four fields the API names. Anything else is
/// refused, as the API's documentation says ("No other syntax is allowed").
fn parse_filter(filter: &str) -> Result<Filter, String> {
    let clauses: Vec<&str> = filter.split(" and ").collect();
    let clause = |i: usize, field: &str, op: &str| -> Result<&str, String> {
        let text = clauses.get(i).ok_or("the filter is too short")?;
        let rest = text
            .strip_prefix(field)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|r| r.strip_prefix(op))
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| format!("expected `{field} {op} '...'`, found `{text}`"))?;
        quoted(rest).ok_or_else(|| format!("the value in `{text}` is not quoted"))
    };
    let time = |text: &str| {
        text.parse::<Timestamp>()
            .map_err(|e| format!("{text:?} is not an ISO 8601 time: {e}"))
    };
    let start = time(clause(0, "eventTimestamp", "ge")?)?;
    let end = time(clause(1, "eventTimestamp", "le")?)?;
    let field = match clauses.len() {
        2 => None,
        3 => {
            let text = clauses[2];
            let (name, _) = text.split_once(' ').ok_or("a malformed third clause")?;
            if !matches!(
                name,
                "resourceGroupName" | "resourceUri" | "resourceProvider" | "correlationId"
            ) {
                return Err(format!("`{name}` cannot be filtered on"));
            }
            Some((name.to_owned(), clause(2, name, "eq")?.to_owned()))
        }
        _ => return Err("too many clauses".to_owned()),
    };
    Ok(Filter { start, end, field })
}

fn matches(event: &Value, filter: &Filter) -> bool {
    let at = event["eventTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    if !at.is_some_and(|t| t >= filter.start && t <= filter.end) {
        return false;
    }
    let Some((field, value)) = &filter.field else {
        return true;
    };
    let actual = match field.as_str() {
        "resourceGroupName" => event["resourceGroupName"].as_str(),
        "resourceUri" => event["resourceId"].as_str(),
        "resourceProvider" => event["resourceProviderName"]["value"].as_str(),
        _ => event["correlationId"].as_str(),
    };
    actual.is_some_and(|a| a.eq_ignore_ascii_case(value))
}

impl State {
    pub(super) fn seed_activity(&mut self) {
        let events = at(
            "monitor-activity-log/GetActivityLogsFiltered.json",
            "/responses/200/body/value",
        );
        self.activity.insert(
            ACTIVITY_SUBSCRIPTION_ID.to_owned(),
            events.as_array().cloned().unwrap_or_default(),
        );
    }

    pub(super) fn activity_log(&mut self, req: &Incoming<'_>) -> Reply {
        if req.method != "GET" {
            return bad_request("the activity log answers GET only");
        }
        let api_version = req.query_param("api-version");
        if api_version.as_deref() != Some(ACTIVITY_LOG_API_VERSION) {
            return bad_request(&format!(
                "The api-version '{}' is invalid; this replay serves '{ACTIVITY_LOG_API_VERSION}'.",
                api_version.unwrap_or_default()
            ));
        }
        let Some(text) = req.query_param("$filter") else {
            return bad_request("$filter is required and must name the start time.");
        };
        let filter = match parse_filter(&text) {
            Ok(f) => f,
            Err(reason) => return bad_request(&format!("The $filter is not valid: {reason}.")),
        };
        let subscription = req.segments[1].to_ascii_lowercase();
        let events: Vec<Value> = self
            .activity
            .get(&subscription)
            .map(|list| {
                list.iter()
                    .filter(|e| matches(e, &filter))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let base = self.base.clone();
        let sub = req.segments[1].to_owned();
        self.page(events, req, |offset| {
            azure_core::http::Url::parse(&format!(
                "{base}/subscriptions/{sub}/providers/microsoft.insights/eventtypes/management/values"
            ))
            .map(|mut url| {
                url.query_pairs_mut()
                    .append_pair("api-version", ACTIVITY_LOG_API_VERSION)
                    .append_pair("$filter", &text)
                    .append_pair("$skiptoken", &offset.to_string());
                url.to_string()
            })
            .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_filter_parses_and_others_do_not() {
        let ok = parse_filter(
            "eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp le '2015-01-23T20:00:00Z' and resourceGroupName eq 'MSSupportGroup'",
        );
        assert!(ok.is_ok(), "{ok:?}");
        for bad in [
            "",
            "resourceGroupName eq 'x'",
            "eventTimestamp ge '2015-01-21T20:00:00Z'",
            "eventTimestamp ge 2015-01-21 and eventTimestamp le '2015-01-23T20:00:00Z'",
            "eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp le '2015-01-23T20:00:00Z' and caller eq 'x'",
            "eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp le '2015-01-23T20:00:00Z' and resourceGroupName ne 'x'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
