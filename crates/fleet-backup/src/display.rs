//! The reports as text for people: one `Display` per report type, so that every tool that
//! links the crate prints the same lines (the JSON form is each type's `Serialize`).

use std::fmt;

use crate::backup::BackupReport;
use crate::catalog::{BackupEntry, PruneReport};
use crate::database::DatabaseRestoreReport;
use crate::k8s::{ApplyOutcome, ConfigRestoreReport};
use crate::verify::VerifyReport;

/// One line: `backup NAME committed: N artifacts, B bytes stored`, or what a dry run would
/// have written.
impl fmt::Display for BackupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manifest {
            Some(m) => write!(
                f,
                "backup {} committed: {} artifacts, {} bytes stored",
                m.id,
                m.artifacts.len(),
                m.stored_bytes()
            ),
            None => write!(f, "dry run: backup {} would be written", self.name),
        }
    }
}

impl BackupEntry {
    /// The header of the table whose rows are [`BackupEntry`]'s `Display`.
    pub const TABLE_HEADER: &'static str =
        "NAME                             STATUS     COMPLETED                    BYTES  covers";
}

/// One row of the backup table (see [`BackupEntry::TABLE_HEADER`]): name, status, completion
/// time, stored bytes, then what it covers, its pin and its problem.
impl fmt::Display for BackupEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .completed_at
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        write!(
            f,
            "{:<32} {:<10} {:<21} {:>12}  {}",
            self.name,
            self.status.as_str(),
            at.as_deref().unwrap_or("-"),
            self.stored_bytes,
            self.scope.as_deref().unwrap_or_default()
        )?;
        if let Some(p) = &self.pinned {
            write!(f, " [pinned by {}: {}]", p.actor, p.reason)?;
        }
        if let Some(p) = &self.problem {
            write!(f, " ({p})")?;
        }
        Ok(())
    }
}

/// One line per artifact (`ok  ` or `FAIL`, its name, what was found), then the verdict.
impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "{mark} {}: {}", c.name, c.detail)?;
        }
        let verdict = if self.ok() { "verified" } else { "NOT usable" };
        write!(f, "backup {}: {verdict}", self.backup)
    }
}

/// One line per backup: deleted, would delete, or keep, with the reason.
impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, d) in self.decisions.iter().enumerate() {
            let verb = match (d.delete, self.applied) {
                (true, true) => "deleted",
                (true, false) => "would delete",
                _ => "keep",
            };
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{verb:<13} {:<32} {}", d.name, d.reason)?;
        }
        Ok(())
    }
}

/// One line: what was restored and validated, or what a dry run would restore.
impl fmt::Display for DatabaseRestoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.applied {
            write!(
                f,
                "database {} on {} restored from {} and validated: {} tables, {} rows as in the manifest ({:.1} s)",
                self.database,
                self.server,
                self.backup,
                self.tables_checked,
                self.rows_checked,
                self.elapsed_seconds
            )
        } else {
            write!(
                f,
                "dry run: {} on {} would be restored from {}",
                self.database, self.server, self.backup
            )
        }
    }
}

/// One line per object (resource, name, action, the paths where it differs, how applying it
/// ended), one per deployment's rollout, then a summary with the counts per action.
impl fmt::Display for ConfigRestoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.items {
            let outcome = match &i.outcome {
                ApplyOutcome::Failed { error } => format!(" FAILED: {error}"),
                ApplyOutcome::Applied => " done".into(),
                ApplyOutcome::NotApplied => String::new(),
            };
            let diff = if i.diff.is_empty() {
                String::new()
            } else {
                format!(" differs at {}", i.diff.join(", "))
            };
            writeln!(
                f,
                "{:<40} {:<30} {:?}{diff}{outcome}",
                i.resource, i.name, i.action
            )?;
        }
        for (deployment, state) in &self.rollouts {
            writeln!(f, "rollout of {deployment}: {state}")?;
        }
        write!(f, "{}", self.summary())
    }
}

impl ConfigRestoreReport {
    /// One line: the namespace, the backup, the counts per action and the failures.
    pub fn summary(&self) -> String {
        format!(
            "namespace {} from backup {}: {:?}, {} failed",
            self.target_namespace,
            self.backup,
            self.counts(),
            self.failures().count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::PruneDecision;

    #[test]
    fn a_prune_report_says_what_it_would_delete_and_keeps() {
        let report = PruneReport {
            decisions: vec![
                PruneDecision {
                    name: "old".into(),
                    delete: true,
                    reason: "older than 30 days".into(),
                },
                PruneDecision {
                    name: "new".into(),
                    delete: false,
                    reason: "newest complete".into(),
                },
            ],
            deleted: Vec::new(),
            applied: false,
        };
        let text = report.to_string();
        assert!(text.starts_with("would delete  old "), "{text}");
        assert!(text.contains("\nkeep          new "), "{text}");
    }

    #[test]
    fn a_dry_run_database_restore_says_so() {
        let report = DatabaseRestoreReport {
            backup: "b1".into(),
            server: "db:5432".into(),
            database: "fleetdb_restored".into(),
            applied: false,
            tables_checked: 0,
            rows_checked: 0,
            restored_bytes: 0,
            elapsed_seconds: 0.0,
        };
        assert_eq!(
            report.to_string(),
            "dry run: fleetdb_restored on db:5432 would be restored from b1"
        );
    }
}
