//! The KQL this crate sends, assembled from typed values only.

use super::model::TimeWindow;
use crate::error::{Error, Result};

/// A cloud role name to filter on. Only letters, digits and `. _ - : /` (1 to 256 characters)
/// are accepted, so the value can never change the shape of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// Checks and wraps a role name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `role_name`.
    pub fn new(name: &str) -> Result<Self> {
        let ok_len = (1..=256).contains(&name.len());
        if !ok_len
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
        {
            return Err(Error::invalid(
                "role_name",
                format!("{name:?}: use 1-256 letters, digits or . _ - : /"),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a KQL string literal.
    pub(crate) fn literal(&self) -> String {
        // The character set above contains no quote or backslash; escaping anyway keeps the
        // literal correct should the set ever grow.
        format!("\"{}\"", self.0.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Column and table names of one schema.
struct Schema {
    requests: &'static str,
    exceptions: &'static str,
    dependencies: &'static str,
    time: &'static str,
    duration: &'static str,
    success: &'static str,
    item_count: &'static str,
    role: &'static str,
    problem_id: &'static str,
    exception_type: &'static str,
    outer_message: &'static str,
    target: &'static str,
    dependency_type: &'static str,
    name: &'static str,
}

const WORKSPACE: Schema = Schema {
    requests: "AppRequests",
    exceptions: "AppExceptions",
    dependencies: "AppDependencies",
    time: "TimeGenerated",
    duration: "DurationMs",
    success: "Success",
    item_count: "ItemCount",
    role: "AppRoleName",
    problem_id: "ProblemId",
    exception_type: "ExceptionType",
    outer_message: "OuterMessage",
    target: "Target",
    dependency_type: "DependencyType",
    name: "Name",
};

const CLASSIC: Schema = Schema {
    requests: "requests",
    exceptions: "exceptions",
    dependencies: "dependencies",
    time: "timestamp",
    duration: "duration",
    success: "success",
    item_count: "itemCount",
    role: "cloud_RoleName",
    problem_id: "problemId",
    exception_type: "type",
    outer_message: "outerMessage",
    target: "target",
    dependency_type: "type",
    name: "name",
};

/// Builds the KQL this crate sends. Public so tools can show or log the exact queries.
#[derive(Clone, Debug)]
pub struct KqlBuilder {
    classic: bool,
    role: Option<RoleName>,
}

impl KqlBuilder {
    /// For the workspace (`classic == false`) or classic schema, optionally filtered by role.
    pub fn new(classic: bool, role: Option<RoleName>) -> Self {
        Self { classic, role }
    }

    fn schema(&self) -> &'static Schema {
        if self.classic { &CLASSIC } else { &WORKSPACE }
    }

    fn source(&self, table: &str, window: &TimeWindow) -> String {
        let s = self.schema();
        let mut q = format!(
            "{table}\n| where {t} >= datetime({start}) and {t} < datetime({end})",
            t = s.time,
            start = window.start,
            end = window.end
        );
        if let Some(role) = &self.role {
            q.push_str(&format!("\n| where {} == {}", s.role, role.literal()));
        }
        q
    }

    /// One row: `total`, `failed`, `p50`, `p95`, `p99`.
    pub fn requests(&self, window: &TimeWindow) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize total = sum({ic}), failed = sumif({ic}, {ok} == false), p50 = percentile({d}, 50), p95 = percentile({d}, 95), p99 = percentile({d}, 99)",
            self.source(s.requests, window),
            ic = s.item_count,
            ok = s.success,
            d = s.duration
        )
    }

    /// Rows: `problemId`, `exceptionType`, `message`, `n`.
    pub fn exceptions(&self, window: &TimeWindow, top: u32) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize n = sum({ic}) by problemId = {p}, exceptionType = {et}, message = {m}\n| top {top} by n desc",
            self.source(s.exceptions, window),
            ic = s.item_count,
            p = s.problem_id,
            et = s.exception_type,
            m = s.outer_message
        )
    }

    /// Rows: `target`, `dependencyType`, `name`, `calls`, `failed`, `p95`, `avg`.
    pub fn dependencies(&self, window: &TimeWindow, top: u32) -> String {
        let s = self.schema();
        format!(
            "{}\n| summarize calls = sum({ic}), failed = sumif({ic}, {ok} == false), p95 = percentile({d}, 95), avg = avg({d}) by target = {t}, dependencyType = {dt}, name = {n}\n| top {top} by p95 desc",
            self.source(s.dependencies, window),
            ic = s.item_count,
            ok = s.success,
            d = s.duration,
            t = s.target,
            dt = s.dependency_type,
            n = s.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn window() -> TimeWindow {
        let start: Timestamp = "2025-06-01T18:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let end: Timestamp = "2025-06-01T19:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        TimeWindow { start, end }
    }

    #[test]
    fn kql_uses_typed_values_only() {
        let k = KqlBuilder::new(false, RoleName::new("fleet-api").ok());
        let q = k.requests(&window());
        assert!(q.starts_with("AppRequests\n| where TimeGenerated >= datetime(2025-06-01T18:00:00Z) and TimeGenerated < datetime(2025-06-01T19:00:00Z)"), "{q}");
        assert!(q.contains("| where AppRoleName == \"fleet-api\""));
        assert!(q.contains("sum(ItemCount)"));
        let classic = KqlBuilder::new(true, None).dependencies(&window(), 5);
        assert!(classic.starts_with("dependencies\n| where timestamp >="));
        assert!(classic.ends_with("| top 5 by p95 desc"));
    }

    #[test]
    fn role_names_cannot_inject() {
        assert!(RoleName::new("api\" | take 1 //").is_err());
        assert!(RoleName::new("").is_err());
        assert!(RoleName::new("fleet/api:v2").is_ok());
    }
}
