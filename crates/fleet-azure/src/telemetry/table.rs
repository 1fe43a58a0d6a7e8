//! Query API answers (`{"tables":[{"name","columns","rows"}]}`) read by column name, with
//! numbers accepted as JSON numbers or strings and `null` where a value is missing. Public:
//! a tool can run its own KQL through `TelemetryClient::run` and read the tables with these.

use super::model::{DependencyStats, ExceptionCount, RequestStats};
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

/// One column of a result table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Declared type (`string`, `long`, `real`, `datetime`, `bool`, `dynamic`, ...).
    #[serde(rename = "type", alias = "columnType", default)]
    pub column_type: String,
}

/// One result table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QueryTable {
    /// Table name (`PrimaryResult`).
    pub name: String,
    /// Columns, in row order.
    pub columns: Vec<Column>,
    /// Rows of cells.
    pub rows: Vec<Vec<Value>>,
}

/// A query answer: `{"tables":[...]}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QueryResult {
    /// Result tables.
    pub tables: Vec<QueryTable>,
}

impl QueryResult {
    /// Parses a query API answer.
    pub fn from_slice(body: &[u8]) -> Result<Self> {
        serde_json::from_slice(body)
            .map_err(|e| Error::response("query", format!("not a query result: {e}")))
    }

    /// `PrimaryResult`, or the first table.
    pub fn primary(&self) -> Result<&QueryTable> {
        self.tables
            .iter()
            .find(|t| t.name == "PrimaryResult")
            .or_else(|| self.tables.first())
            .ok_or_else(|| Error::response("query", "the answer has no table"))
    }
}

impl QueryTable {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                Error::response(
                    "query",
                    format!("table {} has no column {name:?}", self.name),
                )
            })
    }

    /// The name of column `col` (`#col` when the table has fewer columns than the row cells).
    fn column_name(&self, col: usize) -> String {
        self.columns
            .get(col)
            .map_or_else(|| format!("#{col}"), |c| c.name.clone())
    }

    fn cell(&self, row: usize, col: usize) -> Result<&Value> {
        self.rows
            .get(row)
            .ok_or_else(|| Error::response("query", format!("no row {row}")))?
            .get(col)
            .ok_or_else(|| Error::response("query", format!("row {row} has no cell {col}")))
    }

    /// A number cell (`long`, `int`, `real`, ...), accepting numbers sent as strings; `None`
    /// for null, empty, or non-finite values (`NaN` from an empty percentile).
    pub fn f64_at(&self, row: usize, col: usize) -> Result<Option<f64>> {
        let value = match self.cell(row, col)? {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => match s.trim() {
                "NaN" | "Infinity" | "-Infinity" => return Ok(None),
                t => Some(t.parse::<f64>().map_err(|_| {
                    Error::response(
                        "query",
                        format!(
                            "column {} row {row}: {s:?} is not a number",
                            self.column_name(col)
                        ),
                    )
                })?),
            },
            other => {
                return Err(Error::response(
                    "query",
                    format!(
                        "column {} row {row}: {other} is not a number",
                        self.column_name(col)
                    ),
                ));
            }
        };
        Ok(value.filter(|v| v.is_finite()))
    }

    /// A non-negative count cell; null reads as 0.
    pub fn u64_at(&self, row: usize, col: usize) -> Result<u64> {
        match self.f64_at(row, col)? {
            None => Ok(0),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 9.007_199_254_740_992e15 => {
                // Exact: a non-negative integer below 2^53.
                Ok(v as u64)
            }
            Some(v) => Err(Error::response(
                "query",
                format!(
                    "column {} row {row}: {v} is not a count",
                    self.column_name(col)
                ),
            )),
        }
    }

    /// A text cell; numbers and booleans are rendered, null reads as empty.
    pub fn string_at(&self, row: usize, col: usize) -> Result<String> {
        Ok(match self.cell(row, col)? {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// A boolean cell, accepting `"True"`/`"false"` strings and 0/1.
    pub fn bool_at(&self, row: usize, col: usize) -> Result<Option<bool>> {
        Ok(match self.cell(row, col)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_f64().is_some_and(|v| v != 0.0)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                "" => None,
                _ => {
                    return Err(Error::response(
                        "query",
                        format!(
                            "column {} row {row}: {s:?} is not a boolean",
                            self.column_name(col)
                        ),
                    ));
                }
            },
            other => {
                return Err(Error::response(
                    "query",
                    format!(
                        "column {} row {row}: {other} is not a boolean",
                        self.column_name(col)
                    ),
                ));
            }
        })
    }
}

/// Reads the requests summary table.
pub fn parse_request_stats(result: &QueryResult) -> Result<RequestStats> {
    let t = result.primary()?;
    let (total, failed, p50, p95, p99) = (
        t.column("total")?,
        t.column("failed")?,
        t.column("p50")?,
        t.column("p95")?,
        t.column("p99")?,
    );
    if t.rows.is_empty() {
        return Ok(RequestStats {
            total: 0,
            failed: 0,
            failure_rate_pct: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
        });
    }
    let total_n = t.u64_at(0, total)?;
    let failed_n = t.u64_at(0, failed)?;
    Ok(RequestStats {
        total: total_n,
        failed: failed_n,
        failure_rate_pct: (total_n > 0).then(|| 100.0 * failed_n as f64 / total_n as f64),
        p50_ms: t.f64_at(0, p50)?,
        p95_ms: t.f64_at(0, p95)?,
        p99_ms: t.f64_at(0, p99)?,
    })
}

/// Reads the exceptions table.
pub fn parse_exceptions(result: &QueryResult) -> Result<Vec<ExceptionCount>> {
    let t = result.primary()?;
    let (p, e, m, n) = (
        t.column("problemId")?,
        t.column("exceptionType")?,
        t.column("message")?,
        t.column("n")?,
    );
    (0..t.rows.len())
        .map(|r| {
            Ok(ExceptionCount {
                problem_id: t.string_at(r, p)?,
                exception_type: t.string_at(r, e)?,
                message: t.string_at(r, m)?,
                count: t.u64_at(r, n)?,
            })
        })
        .collect()
}

/// Reads the dependencies table.
pub fn parse_dependencies(result: &QueryResult) -> Result<Vec<DependencyStats>> {
    let t = result.primary()?;
    let cols = [
        t.column("target")?,
        t.column("dependencyType")?,
        t.column("name")?,
        t.column("calls")?,
        t.column("failed")?,
        t.column("p95")?,
        t.column("avg")?,
    ];
    (0..t.rows.len())
        .map(|r| {
            Ok(DependencyStats {
                target: t.string_at(r, cols[0])?,
                dependency_type: t.string_at(r, cols[1])?,
                name: t.string_at(r, cols[2])?,
                calls: t.u64_at(r, cols[3])?,
                failed: t.u64_at(r, cols[4])?,
                p95_ms: t.f64_at(r, cols[5])?,
                avg_ms: t.f64_at(r, cols[6])?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_tolerate_strings_and_nulls() -> Result<()> {
        let r = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"total","type":"long"},{"name":"failed","type":"long"},{"name":"p50","type":"real"},{"name":"p95","type":"real"},{"name":"p99","type":"real"}],"rows":[["200", 3, "12.5", null, "NaN"]]}]}"#,
        )?;
        let s = parse_request_stats(&r)?;
        assert_eq!(s.total, 200);
        assert_eq!(s.failed, 3);
        assert_eq!(s.failure_rate_pct, Some(1.5));
        assert_eq!(s.p50_ms, Some(12.5));
        assert_eq!(s.p95_ms, None);
        assert_eq!(s.p99_ms, None);
        Ok(())
    }

    #[test]
    fn bad_cells_are_typed_errors() -> Result<()> {
        let r = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"total","type":"long"},{"name":"failed","type":"long"},{"name":"p50","type":"real"},{"name":"p95","type":"real"},{"name":"p99","type":"real"}],"rows":[["many", 3, 1, 1, 1]]}]}"#,
        )?;
        let e = parse_request_stats(&r).err();
        assert!(e.is_some_and(|e| e.to_string().contains("\"many\" is not a number")));
        let missing = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[],"rows":[]}]}"#,
        )?;
        assert!(parse_request_stats(&missing).is_err());
        assert!(QueryResult::from_slice(b"{\"tables\": [").is_err());
        Ok(())
    }

    /// A row with more cells than the table has columns named its column by indexing the
    /// column list, which panicked; it is a typed error now.
    #[test]
    fn rows_wider_than_the_columns_do_not_panic() -> Result<()> {
        let r = QueryResult::from_slice(
            br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"a","type":"long"}],"rows":[[1, "x", {"k":1}]]}]}"#,
        )?;
        let t = r.primary()?;
        assert!(t.f64_at(0, 1).is_err());
        assert!(t.u64_at(0, 2).is_err());
        assert!(t.bool_at(0, 2).is_err());
        assert!(t.f64_at(0, 9).is_err());
        Ok(())
    }
}

/// Property: no table, however malformed, makes the readers panic.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn cell() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            prop_oneof![
                Just("NaN".to_owned()),
                Just("1e999".to_owned()),
                Just("-0".to_owned()),
                Just("9007199254740993".to_owned()),
                Just("True".to_owned()),
                any::<String>(),
            ]
            .prop_map(Value::String),
            Just(serde_json::json!({"k": [1, 2]})),
        ]
    }

    fn column_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("total".to_owned()),
            Just("failed".to_owned()),
            Just("p50".to_owned()),
            Just("p95".to_owned()),
            Just("p99".to_owned()),
            Just("problemId".to_owned()),
            Just("exceptionType".to_owned()),
            Just("message".to_owned()),
            Just("n".to_owned()),
            Just("target".to_owned()),
            Just("dependencyType".to_owned()),
            Just("name".to_owned()),
            Just("calls".to_owned()),
            Just("avg".to_owned()),
            any::<String>(),
        ]
    }

    fn table() -> impl Strategy<Value = Value> {
        (
            proptest::collection::vec(column_name(), 0..8),
            proptest::collection::vec(proptest::collection::vec(cell(), 0..10), 0..5),
        )
            .prop_map(|(columns, rows)| {
                let columns: Vec<Value> = columns
                    .into_iter()
                    .map(|name| serde_json::json!({"name": name, "type": "long"}))
                    .collect();
                serde_json::json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
            })
    }

    proptest! {
        #[test]
        fn readers_never_panic(body in table()) {
            let bytes = body.to_string().into_bytes();
            let result = QueryResult::from_slice(&bytes).expect("generated tables parse");
            let _ = parse_request_stats(&result);
            let _ = parse_exceptions(&result);
            let _ = parse_dependencies(&result);
            let t = result.primary().expect("one table");
            for row in 0..t.rows.len() + 1 {
                for col in 0..t.columns.len() + 3 {
                    let _ = t.f64_at(row, col);
                    let _ = t.u64_at(row, col);
                    let _ = t.string_at(row, col);
                    let _ = t.bool_at(row, col);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_are_errors_not_panics(bytes in any::<Vec<u8>>()) {
            let _ = QueryResult::from_slice(&bytes);
        }
    }
}
