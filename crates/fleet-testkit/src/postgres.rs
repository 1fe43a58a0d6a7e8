//! To be filled by its issue.
