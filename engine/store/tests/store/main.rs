//! Integration tests of the SQLite store, one module per area.

mod catalog;
mod directory;
mod group_commit;
mod open;
mod repair;
mod runs;
mod support;
