//! `changes_to_release` on repositories the tests make with `git`, compared with what
//! `git log` itself lists.

use std::path::Path;
use std::process::Command;

use fleet_runbook::{ChangesOptions, changes_to_release};

fn git(dir: &Path, args: &[&str], when: &str) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Ann Example",
            "-c",
            "user.email=ann@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", when)
        .env("GIT_COMMITTER_DATE", when)
        .output()
        .expect("git runs (install Debian's git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn commit(dir: &Path, message: &str, when: &str) -> String {
    git(dir, &["commit", "-q", "--allow-empty", "-m", message], when);
    git(dir, &["rev-parse", "HEAD"], when)
}

/// A repository whose `origin/main` is two commits behind a release branch with a merged
/// side branch.
pub(crate) fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"], "2026-07-01T10:00:00Z");
    commit(d, "Initial fleet API", "2026-07-01T10:00:00Z");
    let released = commit(d, "Release 1.4.0", "2026-07-02T10:00:00Z");
    git(
        d,
        &["update-ref", "refs/remotes/origin/main", &released],
        "2026-07-02T10:00:00Z",
    );
    git(
        d,
        &["checkout", "-q", "-b", "release/1.5"],
        "2026-07-03T10:00:00Z",
    );
    commit(d, "Add GPS batching", "2026-07-03T10:00:00Z");
    git(
        d,
        &["checkout", "-q", "-b", "fix/work-orders", &released],
        "2026-07-04T10:00:00Z",
    );
    git(
        d,
        &[
            "-c",
            "user.name=Bo Example",
            "-c",
            "user.email=bo@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Fix work-order pagination\n\nLonger body.",
        ],
        "2026-07-04T10:00:00Z",
    );
    git(
        d,
        &["checkout", "-q", "release/1.5"],
        "2026-07-05T10:00:00Z",
    );
    git(
        d,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge fix/work-orders",
            "fix/work-orders",
        ],
        "2026-07-05T10:00:00Z",
    );
    dir
}

#[test]
fn lists_what_git_log_lists() {
    let dir = repo();
    let d = dir.path();
    let changes = changes_to_release(d, None).expect("changes");
    let expected = git(
        d,
        &[
            "log",
            "--format=%H%x09%s%x09%an%x09%ae%x09%at",
            "origin/main..HEAD",
        ],
        "2026-07-06T00:00:00Z",
    );
    let expected: Vec<Vec<&str>> = expected.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(changes.commits.len(), 3);
    assert_eq!(changes.commits.len(), expected.len());
    for (c, e) in changes.commits.iter().zip(&expected) {
        assert_eq!(c.id, e[0]);
        assert_eq!(c.summary, e[1]);
        assert_eq!(c.author, e[2]);
        assert_eq!(c.author_email, e[3]);
        assert_eq!(c.authored_at.as_second().to_string(), e[4]);
        assert_eq!(c.short_id, &e[0][..7]);
    }
    assert_eq!(changes.commits[0].summary, "Merge fix/work-orders");
    assert_eq!(changes.commits[1].author, "Bo Example");
    assert_eq!(
        changes.head_id,
        git(d, &["rev-parse", "HEAD"], "2026-07-06T00:00:00Z")
    );
    assert_eq!(
        changes.upstream_id,
        git(d, &["rev-parse", "origin/main"], "2026-07-06T00:00:00Z")
    );
    assert!(!changes.truncated);
    assert_eq!(
        changes.oneline(),
        git(
            d,
            &["log", "--oneline", "--abbrev=7", "origin/main..HEAD"],
            "2026-07-06T00:00:00Z"
        )
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    );
}

#[test]
fn refs_ids_limits_and_errors() {
    let dir = repo();
    let d = dir.path();
    // Nothing to release when the head is the upstream.
    let none = changes_to_release(
        d,
        Some(ChangesOptions {
            head: "origin/main".into(),
            ..ChangesOptions::default()
        }),
    )
    .expect("empty");
    assert!(none.commits.is_empty());
    // Branch names, full names and commit ids resolve like git's.
    let upstream = git(d, &["rev-parse", "main"], "2026-07-06T00:00:00Z");
    for (head, upstream) in [
        ("release/1.5", "main"),
        ("refs/heads/release/1.5", upstream.as_str()),
    ] {
        let c = changes_to_release(
            d,
            Some(ChangesOptions {
                head: head.into(),
                upstream: upstream.into(),
                max_commits: 1000,
            }),
        )
        .expect("by name");
        assert_eq!(c.commits.len(), 3, "{head}..{upstream}");
    }
    let capped = changes_to_release(
        d,
        Some(ChangesOptions {
            max_commits: 2,
            ..ChangesOptions::default()
        }),
    )
    .expect("capped");
    assert_eq!(capped.commits.len(), 2);
    assert!(capped.truncated);

    let e = changes_to_release(
        d,
        Some(ChangesOptions {
            upstream: "origin/nope".into(),
            ..ChangesOptions::default()
        }),
    )
    .expect_err("unknown ref");
    assert!(e.is_not_found(), "{e:?}");
    assert!(e.to_string().contains("origin/nope"));
    let e = changes_to_release(
        d,
        Some(ChangesOptions {
            upstream: "0".repeat(40),
            ..ChangesOptions::default()
        }),
    )
    .expect_err("unknown id");
    assert!(e.is_not_found(), "{e:?}");
    let e = changes_to_release(
        d,
        Some(ChangesOptions {
            head: " ".into(),
            ..ChangesOptions::default()
        }),
    )
    .expect_err("empty");
    assert!(e.is_invalid_input());
    let empty = tempfile::tempdir().expect("tempdir");
    let e = changes_to_release(empty.path(), None).expect_err("not a repository");
    assert_eq!(e.kind(), fleet_runbook::ErrorKind::Git);
}
