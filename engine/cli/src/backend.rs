//! The store `stagecraft serve` runs on.

/// The engine the server drives.
pub type Engine = stagecraft_engine::Engine<stagecraft_engine::SqliteStore>;
