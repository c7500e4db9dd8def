//! The JSON Schema of the definition format, generated from the types.

/// The JSON Schema of [`crate::Orchestration`] documents, for editors to validate and complete
/// definitions. Committed as `engine/core/orchestration.schema.json`.
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(crate::Orchestration).to_value()
}
