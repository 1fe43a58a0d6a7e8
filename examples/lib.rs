//! Small helpers shared by the example binaries: reading an input that may be a file, standard
//! input (`-`) or an embedded default. Logic that a runbook step needs lives in the crates, not
//! here.

use std::io::{self, Read};

#[cfg(any(feature = "azure", feature = "runbook"))]
pub mod azure;
#[cfg(feature = "backup")]
pub mod backup_support;
#[cfg(feature = "drill")]
pub mod drill_story;
#[cfg(feature = "incident")]
pub mod runbook;
#[cfg(feature = "runbook")]
#[path = "runbook_support.rs"]
pub mod runbook_support;

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
