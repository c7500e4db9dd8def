//! The directory: users, groups, queues and user tokens.

use super::{Engine, check_name};
use crate::error::EngineError;
use stagecraft_store::{AuditAction, AuditRecord, Group, Queue, Store, StoreResult, User};
use std::future::Future;

/// A user, group or queue to write, as the audit log names it.
struct Entry {
    /// `user`, `group` or `queue`.
    kind: &'static str,
    id: String,
    action: AuditAction,
    /// What the audit record says was written.
    detail: serde_json::Value,
}

impl<S: Store> Engine<S> {
    /// One user of the directory.
    pub async fn user(&self, id: &str) -> Result<Option<User>, EngineError> {
        Ok(self.inner.store.user(id).await?)
    }

    /// Records a token issued to `user` (its SHA-256: the token itself is
    /// never stored) on behalf of `by`, with its audit record.
    pub async fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        by: &str,
    ) -> Result<(), EngineError> {
        let audit = self.audit_record(by, AuditAction::TokenIssue, format!("user:{user}"));
        self.audited(audit.clone(), async {
            if self.inner.store.user(user).await?.is_none() {
                return Err(EngineError::NotFound(format!("user {user:?}")));
            }
            let at = self.inner.clock.now();
            Ok(self
                .inner
                .store
                .issue_token(user, sha256, at, audit)
                .await?)
        })
        .await
    }

    /// Records a token that an earlier version of the server kept outside
    /// the store (`source`), as issued by the system.
    pub async fn import_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        source: &str,
    ) -> Result<(), EngineError> {
        let audit = self
            .audit_record(
                stagecraft_core::run::SYSTEM_PRINCIPAL,
                AuditAction::TokenIssue,
                format!("user:{user}"),
            )
            .with_detail(serde_json::json!({ "imported_from": source }));
        let at = self.inner.clock.now();
        Ok(self
            .inner
            .store
            .issue_token(user, sha256, at, audit)
            .await?)
    }

    /// Revokes every token of `user` on behalf of `by`, with its audit
    /// record; how many there were.
    pub async fn revoke_tokens(&self, user: &str, by: &str) -> Result<u64, EngineError> {
        let audit = self.audit_record(by, AuditAction::TokenRevoke, format!("user:{user}"));
        self.audited(audit.clone(), async {
            Ok(self.inner.store.revoke_tokens(user, audit).await?)
        })
        .await
    }

    /// Every user token's holder and SHA-256.
    pub async fn tokens(&self) -> Result<Vec<(String, [u8; 32])>, EngineError> {
        Ok(self.inner.store.tokens().await?)
    }

    /// Creates or replaces a user, on behalf of `by`.
    pub async fn put_user(&self, user: User, by: &str) -> Result<(), EngineError> {
        let entry = Entry {
            kind: "user",
            id: user.id.clone(),
            action: AuditAction::UserPut,
            detail: serde_json::json!({ "name": user.name, "status": user.status }),
        };
        let store = &self.inner.store;
        self.put_entry(entry, by, |audit| store.put_user(user, audit))
            .await
    }

    /// Creates or replaces a group, on behalf of `by`.
    pub async fn put_group(&self, group: Group, by: &str) -> Result<(), EngineError> {
        let entry = Entry {
            kind: "group",
            id: group.id.clone(),
            action: AuditAction::GroupPut,
            detail: serde_json::json!({ "name": group.name, "members": group.members }),
        };
        let store = &self.inner.store;
        self.put_entry(entry, by, |audit| store.put_group(group, audit))
            .await
    }

    /// Creates or replaces a queue, on behalf of `by`.
    pub async fn put_queue(&self, queue: Queue, by: &str) -> Result<(), EngineError> {
        let entry = Entry {
            kind: "queue",
            id: queue.id.clone(),
            action: AuditAction::QueuePut,
            detail: serde_json::json!({ "name": queue.name, "members": queue.members }),
        };
        let store = &self.inner.store;
        self.put_entry(entry, by, |audit| store.put_queue(queue, audit))
            .await
    }

    /// Writes a directory entry with its audit record, once its id is
    /// checked; a refusal or failure is audited too.
    async fn put_entry<F>(
        &self,
        entry: Entry,
        by: &str,
        put: impl FnOnce(AuditRecord) -> F,
    ) -> Result<(), EngineError>
    where
        F: Future<Output = StoreResult<()>>,
    {
        let audit = self
            .audit_record(by, entry.action, format!("{}:{}", entry.kind, entry.id))
            .with_detail(entry.detail);
        self.audited(audit.clone(), async {
            check_name(entry.kind, &entry.id)?;
            Ok(put(audit).await?)
        })
        .await
    }
}
