//! Commits built on one another. A caller that commits while earlier
//! commits are still under way (the engine keeps several in flight) builds
//! each run's new state on the states it has not yet seen committed. If one
//! of those commits fails, a later one carrying the same run must fail too,
//! unwritten: written, it would make the failed commit's transition durable
//! without its audit record, step logs or job outcome, though its caller was
//! told it failed. A caller marks the commits it builds on one another with
//! a lineage number ([`crate::Commit::lineage`]), and starts a new lineage
//! once it has reloaded what is durable.

use std::collections::HashSet;

use crate::StoreError;
use crate::encoding::EncodedCommit;

/// The runs of a lineage whose commits failed, as a backend's committer
/// sees them (in write order).
#[derive(Debug, Default)]
pub struct FailedLineage {
    failed: Option<(u64, HashSet<String>)>,
}

impl FailedLineage {
    /// The error `commit` fails with, unwritten, if it carries a run of a
    /// failed commit of its lineage (its runs are then marked failed too).
    /// A commit of a newer lineage clears what was marked.
    pub fn built_on_failure(&mut self, commit: &EncodedCommit) -> Option<StoreError> {
        let lineage = commit.lineage?;
        let (failed_lineage, runs) = self.failed.as_mut()?;
        if lineage > *failed_lineage {
            self.failed = None;
            return None;
        }
        if lineage < *failed_lineage {
            return None;
        }
        let run = commit.runs.iter().find(|run| runs.contains(&run.id))?;
        let error = StoreError::write(
            format!("run {}", run.id),
            "an earlier commit of the run, on which this one was built, failed",
        );
        runs.extend(commit.runs.iter().map(|run| run.id.clone()));
        Some(error)
    }

    /// Marks the runs of `commit`, which failed.
    pub fn failed(&mut self, commit: &EncodedCommit) {
        let Some(lineage) = commit.lineage else {
            return;
        };
        let runs = commit.runs.iter().map(|run| run.id.clone());
        match &mut self.failed {
            Some((failed, marked)) if *failed == lineage => marked.extend(runs),
            _ => self.failed = Some((lineage, runs.collect())),
        }
    }
}
