//! The audit log: who did what, to what, when, and how it ended.
//!
//! A record is written in the same transaction as the effect it describes
//! (a deploy, a run's transition...), so the log never claims an action that
//! did not happen nor misses one that did. A refused action has no effect:
//! its record is written on its own. Records never hold a token.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A flow version was deployed.
    #[serde(rename = "flow.deploy")]
    FlowDeploy,
    /// A stored flow version was made active.
    #[serde(rename = "flow.activate")]
    FlowActivate,
    /// A flow version was quarantined: its invocations kept ending in a
    /// resource limit.
    #[serde(rename = "flow.quarantine")]
    FlowQuarantine,
    /// A flow version's quarantine was lifted.
    #[serde(rename = "flow.lift_quarantine")]
    FlowLiftQuarantine,
    /// An orchestration version was deployed.
    #[serde(rename = "orchestration.deploy")]
    OrchestrationDeploy,
    /// A run was started.
    #[serde(rename = "run.start")]
    RunStart,
    /// A run was suspended.
    #[serde(rename = "run.suspend")]
    RunSuspend,
    /// A run was resumed.
    #[serde(rename = "run.resume")]
    RunResume,
    /// A run was canceled.
    #[serde(rename = "run.cancel")]
    RunCancel,
    /// An orchestration event was published to a run.
    #[serde(rename = "run.publish")]
    RunPublish,
    /// A work item was completed.
    #[serde(rename = "work_item.complete")]
    WorkItemComplete,
    /// A flow version was dry-run against recorded inputs.
    #[serde(rename = "dry_run")]
    DryRun,
    /// A resume job was started.
    #[serde(rename = "job.start")]
    JobStart,
    /// A resume job was canceled.
    #[serde(rename = "job.cancel")]
    JobCancel,
    /// A user was created or changed.
    #[serde(rename = "user.put")]
    UserPut,
    /// A group was created or changed.
    #[serde(rename = "group.put")]
    GroupPut,
    /// A queue was created or changed.
    #[serde(rename = "queue.put")]
    QueuePut,
    /// A token was issued to a user.
    #[serde(rename = "token.issue")]
    TokenIssue,
    /// A user's tokens were revoked.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// Retention removed what it keeps no longer (counts in the detail).
    #[serde(rename = "retention.prune")]
    RetentionPrune,
}

impl AuditAction {
    /// Every action, for documentation and parsing.
    pub const ALL: [AuditAction; 20] = [
        Self::FlowDeploy,
        Self::FlowActivate,
        Self::FlowQuarantine,
        Self::FlowLiftQuarantine,
        Self::OrchestrationDeploy,
        Self::RunStart,
        Self::RunSuspend,
        Self::RunResume,
        Self::RunCancel,
        Self::RunPublish,
        Self::WorkItemComplete,
        Self::DryRun,
        Self::JobStart,
        Self::JobCancel,
        Self::UserPut,
        Self::GroupPut,
        Self::QueuePut,
        Self::TokenIssue,
        Self::TokenRevoke,
        Self::RetentionPrune,
    ];

    /// The name the API and the log use (`run.resume`).
    pub fn name(self) -> &'static str {
        match self {
            Self::FlowDeploy => "flow.deploy",
            Self::FlowActivate => "flow.activate",
            Self::FlowQuarantine => "flow.quarantine",
            Self::FlowLiftQuarantine => "flow.lift_quarantine",
            Self::OrchestrationDeploy => "orchestration.deploy",
            Self::RunStart => "run.start",
            Self::RunSuspend => "run.suspend",
            Self::RunResume => "run.resume",
            Self::RunCancel => "run.cancel",
            Self::RunPublish => "run.publish",
            Self::WorkItemComplete => "work_item.complete",
            Self::DryRun => "dry_run",
            Self::JobStart => "job.start",
            Self::JobCancel => "job.cancel",
            Self::UserPut => "user.put",
            Self::GroupPut => "group.put",
            Self::QueuePut => "queue.put",
            Self::TokenIssue => "token.issue",
            Self::TokenRevoke => "token.revoke",
            Self::RetentionPrune => "retention.prune",
        }
    }

    /// The action called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It took effect.
    Done,
    /// It was refused, and changed nothing.
    Refused {
        /// Why, in a person's words.
        reason: String,
    },
}

/// One action, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub at: Timestamp,
    /// Who: `admin` for the admin token, a user's id for theirs.
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// To what: `kind:id`, e.g. `run:0193…`, `flow:risk_score`, `user:ada`.
    pub target: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: AuditOutcome,
    /// Particulars (a version, a digest, a job's filter...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// The record with the version a deploy made in its detail.
    pub fn with_version(mut self, version: u32) -> Self {
        match &mut self.detail {
            serde_json::Value::Object(detail) => {
                detail.insert("version".to_owned(), version.into());
            }
            detail => *detail = serde_json::json!({ "version": version }),
        }
        self
    }

    /// An action that took effect.
    pub fn done(at: Timestamp, actor: &str, action: AuditAction, target: String) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action,
            target,
            outcome: AuditOutcome::Done,
            detail: serde_json::Value::Null,
        }
    }

    /// The same action, refused for `reason`.
    pub fn refused(mut self, reason: impl Into<String>) -> Self {
        self.outcome = AuditOutcome::Refused {
            reason: reason.into(),
        };
        self
    }

    /// With particulars.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored audit record and its position in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log: later records have larger ids.
    pub id: u64,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Which audit records to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only about this target (`kind:id`).
    pub target: Option<String>,
    /// Only at or after this time.
    pub since: Option<Timestamp>,
    /// Only before this time.
    pub until: Option<Timestamp>,
    /// Only records older than this id (the previous page's last).
    pub before: Option<u64>,
    /// At most this many (the backend may cap it).
    pub limit: Option<u32>,
}
