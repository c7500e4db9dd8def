//! The audit trail of the engine's API: every state-changing call names who
//! makes it, and is recorded with its effect, or as refused.

use super::Engine;
use crate::error::EngineError;
use stagecraft_core::run::RunId;
use stagecraft_store::{AuditAction, AuditEntry, AuditFilter, AuditRecord, Commit, JobId, Store};

/// `kind:id` targets, one spelling for every caller.
pub(crate) mod target {
    use stagecraft_core::run::{RunId, WorkItemId};
    use stagecraft_store::JobId;

    pub(crate) fn run(id: &RunId) -> String {
        format!("run:{id}")
    }
    pub(crate) fn flow(name: &str) -> String {
        format!("flow:{name}")
    }
    pub(crate) fn orchestration(name: &str) -> String {
        format!("orchestration:{name}")
    }
    pub(crate) fn work_item(id: &WorkItemId) -> String {
        format!("work_item:{id}")
    }
    pub(crate) fn job(id: &JobId) -> String {
        format!("job:{id}")
    }
}

impl<S: Store> Engine<S> {
    /// A record of `by` doing `action` to `target`, now.
    pub fn audit_record(&self, by: &str, action: AuditAction, target: String) -> AuditRecord {
        AuditRecord::done(self.inner.clock.now(), by, action, target)
    }

    /// Records an action that has no effect of its own in the store (a
    /// dry-run, a token issued or revoked, a request refused before it
    /// reached the engine).
    pub async fn record_action(&self, record: AuditRecord) -> Result<(), EngineError> {
        Ok(self.inner.store.record_audit(vec![record]).await?)
    }

    /// Audit records matching `filter`, newest first.
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self.inner.store.audit(filter).await?)
    }

    /// Runs `effect`, which records `record` with its effect when it
    /// succeeds; records `record` as refused when it fails.
    pub(crate) async fn audited<T>(
        &self,
        record: AuditRecord,
        effect: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let result = effect.await;
        if let Err(error) = &result {
            self.record_refusal(record, None, error).await;
        }
        result
    }

    /// Records that `record`'s action (for a run of `job`, if given) was
    /// refused with `error`, and says whether that is durable. The refusal
    /// stands either way; a failure to record it is logged.
    pub(crate) async fn record_refusal(
        &self,
        record: AuditRecord,
        job: Option<(&JobId, &RunId)>,
        error: &EngineError,
    ) -> bool {
        let reason = error.to_string();
        let job_runs = job
            .map(|(job, run)| stagecraft_store::JobRunOutcome {
                job: job.clone(),
                run: run.clone(),
                outcome: Err(reason.clone()),
            })
            .into_iter()
            .collect();
        let write = Commit {
            audit: vec![record.refused(reason)],
            job_runs,
            ..Commit::default()
        };
        match self.inner.store.commit(write).await {
            Ok(()) => true,
            Err(failure) => {
                tracing::error!(%failure, refused = %error, "cannot record a refused action in the audit log");
                false
            }
        }
    }
}
