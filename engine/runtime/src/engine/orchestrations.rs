//! Orchestrations: deploying and listing versions.

use super::audit::target;
use super::{Engine, check_name};
use crate::error::EngineError;
use serde_json::Value;
use stagecraft_core::Orchestration;
use stagecraft_store::{AuditAction, NewOrchestration, OrchestrationRecord, Store};
use std::sync::Arc;

impl<S: Store> Engine<S> {
    /// Deploys a new version of an orchestration from its JSON definition,
    /// after validating it against the deployed flows and registered actions.
    /// Runs already started keep the version they started with.
    pub async fn deploy_orchestration(
        &self,
        definition: Value,
        by: &str,
    ) -> Result<OrchestrationRecord, EngineError> {
        let named = definition.get("name").and_then(Value::as_str).unwrap_or("");
        let audit = self.audit_record(
            by,
            AuditAction::OrchestrationDeploy,
            target::orchestration(named),
        );
        self.audited(audit.clone(), async {
            // Parsing and validating a large definition is CPU work: keep it
            // off the async workers that serve every other request.
            let registry = Arc::clone(&self.inner.registry);
            let (parsed, plan, definition) = tokio::task::spawn_blocking(move || {
                let parsed: Orchestration = serde_json::from_value(definition.clone())
                    .map_err(|e| EngineError::DefinitionSyntax(e.to_string()))?;
                check_name("orchestration", &parsed.name)?;
                let plan = stagecraft_core::validate(&parsed, &*registry)
                    .map_err(EngineError::DefinitionInvalid)?;
                Ok::<_, EngineError>((parsed, plan, definition))
            })
            .await
            .map_err(|_| EngineError::ShuttingDown)??;
            let record = self
                .inner
                .store
                .insert_orchestration(
                    NewOrchestration {
                        name: parsed.name.clone(),
                        definition,
                        deployed_by: by.to_owned(),
                        deployed_at: self.inner.clock.now(),
                    },
                    audit,
                )
                .await?;
            self.inner.registry.add_plan(
                plan.with_version(record.version)
                    .with_limits(self.inner.limits.clone()),
                true,
            );
            tracing::info!(orchestration = %record.name, version = record.version, by, "orchestration deployed");
            Ok(record)
        })
        .await
    }

    /// Every version of every orchestration.
    pub async fn orchestrations(&self) -> Result<Vec<OrchestrationRecord>, EngineError> {
        Ok(self.inner.store.orchestrations().await?)
    }
}
