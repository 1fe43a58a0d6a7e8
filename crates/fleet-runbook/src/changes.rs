//! The changes a release carries: the equivalent of `git log --oneline origin/main..HEAD`,
//! read from a local repository with gitoxide (`gix`), not by running `git`.
//!
//! Commits reachable from the head and not from the upstream ref, newest first (by commit
//! time, as `git log` lists them). The repository is opened isolated: only its own
//! configuration is read, never the user's or the system's, nor environment variables.

use std::path::Path;

use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What to compare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangesOptions {
    /// The release's tip: `HEAD`, a branch, a tag or a full commit id (`HEAD`).
    pub head: String,
    /// What is already released: a ref as `git` would resolve it (`origin/main`), or a full
    /// commit id.
    pub upstream: String,
    /// At most this many commits are listed (1000); the report says when there were more.
    pub max_commits: usize,
}

impl Default for ChangesOptions {
    fn default() -> Self {
        Self {
            head: "HEAD".into(),
            upstream: "origin/main".into(),
            max_commits: 1000,
        }
    }
}

/// One commit to be released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The full commit id (hex).
    pub id: String,
    /// Its first 7 hex digits, as `--oneline` shows it (unambiguity not checked).
    pub short_id: String,
    /// The first line of the message.
    pub summary: String,
    /// The author's name.
    pub author: String,
    /// The author's email.
    pub author_email: String,
    /// When it was authored.
    pub authored_at: Timestamp,
}

/// The commits between what is released and what will be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The head as asked (`HEAD`).
    pub head: String,
    /// Its commit id.
    pub head_id: String,
    /// The upstream as asked (`origin/main`).
    pub upstream: String,
    /// Its commit id.
    pub upstream_id: String,
    /// The commits, newest first.
    pub commits: Vec<Change>,
    /// Whether there were more than `max_commits`.
    pub truncated: bool,
}

impl Changes {
    /// `git log --oneline` lines: `<short id> <summary>`.
    pub fn oneline(&self) -> Vec<String> {
        self.commits
            .iter()
            .map(|c| format!("{} {}", c.short_id, c.summary))
            .collect()
    }
}

fn git_err(path: &Path, operation: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Git {
        path: path.to_owned(),
        operation,
        detail: e.to_string(),
    }
}

/// A name or a full hex id, as a commit id.
fn resolve(
    repo: &gix::Repository,
    path: &Path,
    name: &str,
    field: &'static str,
) -> Result<gix::ObjectId> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name == "HEAD" {
        return repo
            .head_id()
            .map(gix::Id::detach)
            .map_err(|e| git_err(path, "read HEAD", e));
    }
    if name.len() == 40 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        let id = gix::ObjectId::from_hex(name.as_bytes())
            .map_err(|e| Error::invalid(field, e.to_string()))?;
        return repo
            .find_commit(id)
            .map(|c| c.id)
            .map_err(|_| Error::NotFound {
                what: "commit",
                name: name.to_owned(),
            });
    }
    let mut reference = repo
        .try_find_reference(name)
        .map_err(|e| git_err(path, "find reference", e))?
        .ok_or_else(|| Error::NotFound {
            what: "git ref",
            name: name.to_owned(),
        })?;
    reference
        .peel_to_id()
        .map(gix::Id::detach)
        .map_err(|e| git_err(path, "peel reference", e))
}

/// Lists the commits reachable from `options.head` and not from `options.upstream` in the
/// repository at `path` (its work tree or its `.git` directory); `None` options: `HEAD`
/// against `origin/main`. Reads only; takes time in
/// proportion to the commits walked, so call it from a blocking context (or
/// `tokio::task::spawn_blocking`) for large histories.
///
/// # Errors
/// [`Error::NotFound`] for an unknown ref or commit, [`Error::InvalidInput`] for an empty
/// name, [`Error::Git`] when the repository cannot be opened or read.
#[tracing::instrument(skip_all, fields(repo = %path.display()))]
pub fn changes_to_release(path: &Path, options: Option<ChangesOptions>) -> Result<Changes> {
    let options = options.unwrap_or_default();
    let repo = gix::open_opts(path, gix::open::Options::isolated())
        .map_err(|e| git_err(path, "open", e))?;
    let head = resolve(&repo, path, &options.head, "changes.head")?;
    let upstream = resolve(&repo, path, &options.upstream, "changes.upstream")?;
    let walk = repo
        .rev_walk([head])
        .with_hidden([upstream])
        .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
        .all()
        .map_err(|e| git_err(path, "walk history", e))?;
    let mut commits = Vec::new();
    let mut truncated = false;
    for info in walk {
        let info = info.map_err(|e| git_err(path, "walk history", e))?;
        if commits.len() >= options.max_commits {
            truncated = true;
            break;
        }
        let commit = info.object().map_err(|e| git_err(path, "read commit", e))?;
        let summary = commit
            .message()
            .map(|m| m.summary().to_string())
            .map_err(|e| git_err(path, "read commit message", e))?;
        let author = commit
            .author()
            .map_err(|e| git_err(path, "read commit author", e))?;
        let seconds = author
            .time()
            .map(|t| t.seconds)
            .map_err(|e| git_err(path, "read commit time", e))?;
        let id = info.id.to_string();
        commits.push(Change {
            short_id: id.chars().take(7).collect(),
            id,
            summary,
            author: author.name.to_string().trim().to_owned(),
            author_email: author.email.to_string().trim().to_owned(),
            authored_at: Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH),
        });
    }
    Ok(Changes {
        head: options.head,
        head_id: head.to_string(),
        upstream: options.upstream,
        upstream_id: upstream.to_string(),
        commits,
        truncated,
    })
}
