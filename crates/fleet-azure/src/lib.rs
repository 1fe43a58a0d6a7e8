//! Azure for the fleet runbook (work in progress on this branch).
