//! What a write returns: the server's answer and whether it was applied.

/// The result of a mutating call: the value the server answered with (for a dry run, what the
/// object would look like) and whether the change was stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct WriteOutcome<T> {
    /// The server's answer (the object after the change, or as it would be).
    pub value: T,
    /// `false` for a dry run (`dryRun=All`): the server validated the change and stored nothing.
    pub applied: bool,
}

impl<T> WriteOutcome<T> {
    pub(crate) fn new(value: T, dry_run: bool) -> Self {
        Self {
            value,
            applied: !dry_run,
        }
    }

    /// Whether this was a dry run.
    pub fn is_dry_run(&self) -> bool {
        !self.applied
    }

    /// The value, whether applied or not.
    pub fn into_value(self) -> T {
        self.value
    }
}

/// The verb for log lines and messages: "scaled" when applied, "would scale" in a dry run.
pub(crate) fn verb(dry_run: bool, done: &'static str, would: &'static str) -> &'static str {
    if dry_run { would } else { done }
}
