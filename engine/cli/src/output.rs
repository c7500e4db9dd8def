//! How commands print: a human table by default, the server's JSON with
//! `--json`.

use anyhow::{Context, Result};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where a command's result goes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of tables.
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or calls `human` to print it for people.
    pub fn print(&self, value: &Value, human: impl FnOnce(&Value)) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            );
        } else {
            human(value);
        }
    }

    /// Prints `value` as JSON, or, read as the API model's `T`, for people:
    /// a field the model renames fails to compile here, not at run time.
    pub fn show<T: DeserializeOwned>(&self, value: &Value, human: impl FnOnce(&T)) -> Result<()> {
        if self.json {
            self.print(value, |_| {});
            return Ok(());
        }
        let typed = T::deserialize(value)
            .with_context(|| format!("the server's answer does not read as expected: {value}"))?;
        human(&typed);
        Ok(())
    }

    /// Prints the array `value` as a table of `columns` (header, JSON
    /// pointer), or as JSON.
    pub fn table(&self, value: &Value, columns: &[(&str, &str)]) {
        self.print(value, |value| {
            let rows = value.as_array().map(Vec::as_slice).unwrap_or_default();
            if rows.is_empty() {
                println!("(none)");
                return;
            }
            println!("{}", table(rows, columns));
        });
    }
}

/// A table of `rows` with `columns` (header, JSON pointer into each row).
pub fn table(rows: &[Value], columns: &[(&str, &str)]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter().map(|(header, _)| *header));
    for row in rows {
        table.add_row(
            columns
                .iter()
                .map(|(_, pointer)| cell(row.pointer(pointer).unwrap_or(&Value::Null))),
        );
    }
    table
}

/// A JSON value as a table cell: strings bare, `null` empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => String::new(),
        other => other.to_string(),
    }
}
