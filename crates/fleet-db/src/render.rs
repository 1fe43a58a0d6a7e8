//! Plain-text renderings of the reports (`Display`), for terminals and chat: what a person
//! reads after the runbook's database checks. JSON comes from `serde`.

use std::fmt;
use std::time::Duration;

use crate::remediation::Outcome;
use crate::report::{BlockNode, Snapshot, StatementsReport};

/// `1.5 s`, `320 ms`, `2 h 3 min`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s >= 1 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn tree(f: &mut fmt::Formatter<'_>, node: &BlockNode, depth: usize) -> fmt::Result {
    let who = node
        .session
        .as_ref()
        .map(|s| {
            format!(
                "{} {}",
                s.user.as_deref().unwrap_or("?"),
                s.application.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let waited = node
        .waiting
        .map(|w| format!(", waiting {}", human(w)))
        .unwrap_or_default();
    writeln!(
        f,
        "{:indent$}pid {} {}{waited}",
        "",
        node.pid,
        who.trim(),
        indent = 2 + depth * 2
    )?;
    for child in &node.blocked {
        tree(f, child, depth + 1)?;
    }
    Ok(())
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.connections;
        writeln!(
            f,
            "connections: {} of {} usable ({:.0} %), {} slots left; max_connections {}",
            c.total,
            c.usable,
            c.utilization * 100.0,
            c.slots_left,
            c.max_connections
        )?;
        let s = &c.by_state;
        writeln!(
            f,
            "  active {}, idle {}, idle in transaction {} (+{} aborted), hidden {}",
            s.active, s.idle, s.idle_in_transaction, s.idle_in_transaction_aborted, s.hidden
        )?;
        for (app, n) in &c.by_application {
            let app = if app.is_empty() { "(none)" } else { app };
            writeln!(f, "  application {app}: {n}")?;
        }
        for w in &c.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        writeln!(f, "active queries: {}", self.active_queries.len())?;
        for q in &self.active_queries {
            writeln!(
                f,
                "  pid {} {} for {}: {}",
                q.pid,
                q.application.as_deref().unwrap_or(""),
                human(q.query_age.unwrap_or_default()),
                q.query.as_deref().unwrap_or("")
            )?;
        }
        for q in &self.long_running.queries {
            writeln!(
                f,
                "long-running query: pid {} for {}",
                q.pid,
                human(q.query_age.unwrap_or_default())
            )?;
        }
        for t in &self.long_running.transactions {
            writeln!(
                f,
                "long-open transaction: pid {} open {}",
                t.pid,
                human(t.xact_age.unwrap_or_default())
            )?;
        }
        for g in &self.leak_suspects {
            let app = if g.application.is_empty() {
                "(no application_name)"
            } else {
                &g.application
            };
            writeln!(
                f,
                "leak suspect: {app} has {} session(s) idle in a transaction, oldest {} \
                 (pids {:?})",
                g.sessions,
                human(g.oldest_idle),
                g.pids
            )?;
        }
        if self.blocking.roots.is_empty() {
            writeln!(f, "blocking: none")?;
        } else {
            writeln!(
                f,
                "blocking: {} session(s) wait on locks",
                self.blocking.waiting_sessions
            )?;
            for root in &self.blocking.roots {
                tree(f, root, 0)?;
            }
        }
        if !self.blocking.cycles.is_empty() {
            writeln!(
                f,
                "  lock cycle (deadlock): pids {:?}",
                self.blocking.cycles
            )?;
        }
        match &self.statements {
            StatementsReport::Available { top } => {
                let slow: Vec<_> = top.iter().filter(|s| s.slow).collect();
                writeln!(f, "slow queries: {}", slow.len())?;
                for st in slow {
                    writeln!(
                        f,
                        "  mean {} over {} calls: {}",
                        human(st.mean_time),
                        st.calls,
                        st.query
                    )?;
                }
            }
            StatementsReport::Unavailable { reason } => writeln!(f, "slow queries: {reason}")?,
        }
        let h = &self.health;
        writeln!(
            f,
            "server: {}; up {}; cache hit {}; fewest transaction ids left {}",
            h.version,
            human(h.uptime),
            h.cache_hit_ratio
                .map(|r| format!("{:.2} %", r * 100.0))
                .unwrap_or_else(|| "n/a".into()),
            h.min_xids_left
        )?;
        for s in &h.sequences_near_exhaustion {
            writeln!(
                f,
                "  sequence {}.{} {:.0} % used",
                s.schema,
                s.name,
                s.used_fraction * 100.0
            )?;
        }
        for i in &h.invalid_indexes {
            writeln!(f, "  invalid index {}.{}", i.schema, i.index)?;
        }
        for slot in h.replication_slots.iter().filter(|s| !s.active) {
            writeln!(f, "  inactive replication slot {}", slot.name)?;
        }
        write!(
            f,
            "taken at {} in {} over {} round trip(s)",
            self.taken_at,
            human(self.cost.elapsed),
            self.cost.round_trips
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "dry run, nothing changed"
        } else {
            "executed"
        };
        writeln!(
            f,
            "{} {} ({verb})",
            self.action.step(),
            self.action.object()
        )?;
        for s in &self.statements {
            writeln!(f, "  statement: {s}")?;
        }
        for b in &self.backends {
            let state = match b.signalled {
                None => "would be signalled",
                Some(true) => "signalled",
                Some(false) => "not signalled",
            };
            writeln!(
                f,
                "  pid {} {} {} {}: {state}",
                b.pid,
                b.user.as_deref().unwrap_or("?"),
                b.application.as_deref().unwrap_or(""),
                b.state.as_deref().unwrap_or("")
            )?;
        }
        for s in &self.skipped {
            writeln!(f, "  skipped pid {}: {}", s.pid, s.reason)?;
        }
        if let (Some(before), Some(after)) = (&self.before, &self.after) {
            writeln!(
                f,
                "  role {}: login {} -> {}",
                before.role, before.can_login, after.can_login
            )?;
        }
        write!(f, "  audit records written: {}", self.audit.len())
    }
}
