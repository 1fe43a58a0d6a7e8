//! Small helpers shared by the example binaries: reading an input that may be a file, standard
//! input (`-`) or an embedded default, the policy file, logging to stderr; and, per family, the
//! wiring from flags to the crates' clients. Logic that a runbook step needs lives in the
//! crates, not here.

use std::io::{self, Read};
use std::path::Path;

use fleet_policy::Policy;

#[cfg(any(feature = "azure", feature = "runbook", feature = "incident"))]
pub mod azure;
#[cfg(feature = "backup")]
pub mod backup_support;
#[cfg(feature = "runbook")]
pub mod release;
#[cfg(any(feature = "runbook", feature = "incident"))]
pub mod runbook;

/// The policy in the TOML file at `path`, or the runbook's defaults when no path is given.
///
/// # Errors
/// A message naming the file: it cannot be read, or it is not a valid policy.
pub fn load_policy(path: Option<&Path>) -> Result<Policy, String> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
    Policy::from_toml_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The application database at `url` (`postgres://...`; its `sslmode` honoured), named in
/// reports as "the application database" (never with its password); its guarded changes
/// (a password change) are audited to `audit`, without which fleet-db only plans them.
///
/// # Errors
/// An unusable URL; the error does not repeat it.
#[cfg(any(feature = "runbook", feature = "incident"))]
pub fn database(
    url: &str,
    audit: Option<std::sync::Arc<dyn fleet_guard::AuditSink>>,
) -> Result<fleet_runbook::Db, fleet_db::Error> {
    let mut options = fleet_db::DbOptions::from_url_with_sslmode(url)?;
    options.audit = audit;
    let client = fleet_db::PgClient::new(options)?;
    Ok(fleet_runbook::Db::from_client(
        client,
        "the application database",
    ))
}

/// One notifier per webhook URL (`webhook0`, `webhook1`...), each receiving every
/// notification as JSON.
///
/// # Errors
/// An unusable URL (the error never shows it).
#[cfg(any(feature = "incident", feature = "drill", feature = "runbook"))]
pub fn webhook_notifiers(
    urls: &[String],
) -> Result<Vec<std::sync::Arc<dyn fleet_runbook::Notifier>>, fleet_runbook::Error> {
    let mut out: Vec<std::sync::Arc<dyn fleet_runbook::Notifier>> = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        let options = fleet_runbook::WebhookOptions {
            name: format!("webhook{n}"),
            ..fleet_runbook::WebhookOptions::default()
        };
        out.push(std::sync::Arc::new(fleet_runbook::WebhookNotifier::new(
            fleet_runbook::SecretUrl::parse("webhook", url)?,
            Some(options),
        )?));
    }
    Ok(out)
}

/// Logs `tracing` events to stderr at the level `RUST_LOG` asks for, `default` (a directive
/// such as `warn` or `off`) when it is unset or unusable.
#[cfg(any(
    feature = "azure",
    feature = "backup",
    feature = "db",
    feature = "drill",
    feature = "fake-cluster",
    feature = "incident",
    feature = "k8s",
    feature = "runbook"
))]
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Where an input came from, for messages and report locations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file path.
    File(String),
    /// Standard input.
    Stdin,
    /// The example's embedded default, named by its repository path.
    Embedded(&'static str),
}

impl Source {
    /// A short name: the path, `-` for stdin.
    pub fn name(&self) -> &str {
        match self {
            Source::File(p) => p,
            Source::Stdin => "-",
            Source::Embedded(p) => p,
        }
    }
}

/// Reads `path` (`-` for standard input), or returns `default` when no path is given.
///
/// # Errors
/// The I/O error of reading the file or standard input.
pub fn read_input(
    path: Option<&str>,
    default: (&'static str, &'static [u8]),
) -> io::Result<(Vec<u8>, Source)> {
    match path {
        None => Ok((default.1.to_vec(), Source::Embedded(default.0))),
        Some("-") => {
            let mut buf = Vec::new();
            io::stdin().read_to_end(&mut buf)?;
            Ok((buf, Source::Stdin))
        }
        Some(p) => Ok((std::fs::read(p)?, Source::File(p.to_owned()))),
    }
}
