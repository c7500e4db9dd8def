//! The store conformance suite: one set of test bodies every [`Store`]
//! backend must pass, so SQLite and PostgreSQL answer alike.
//!
//! A backend's integration test implements [`Harness`] (a fresh, empty
//! store, and a way to close and reopen it) and expands
//! [`store_conformance_tests!`] with a function that makes one:
//!
//! ```ignore
//! async fn fresh() -> Option<MyHarness> { Some(MyHarness::new().await) }
//! stagecraft_store_conformance::store_conformance_tests!(fresh);
//! ```
//!
//! The function answers `None` when the backend is not available here (no
//! database server): each test then returns at once, and the backend says
//! so loudly, failing under `CI=true`.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

pub mod audit_and_jobs;
pub mod catalog;
pub mod directory;
pub mod retention;
pub mod runs;
pub mod support;

use std::future::Future;

pub use stagecraft_store::Store;

/// A fresh store under test.
pub trait Harness: Sized + Send + Sync {
    /// The backend.
    type Store: Store + Clone;

    /// The store.
    fn store(&self) -> &Self::Store;

    /// Closes the store (its queued writes committed) and opens the same
    /// database again, as a restarted node would.
    fn reopen(self) -> impl Future<Output = Self> + Send;
}

/// Expands to one `#[tokio::test]` per conformance test, each on a store
/// from `$fresh` (an async function answering `Option<impl Harness>`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:ident) => {
        $crate::store_conformance_tests!(@each $fresh;
            runs::a_realistic_run_round_trips_exactly,
            runs::committing_a_run_again_replaces_it,
            runs::work_item_rows_follow_the_run_state,
            runs::runs_are_listed_newest_first_filtered_and_limited,
            runs::listings_default_to_100_runs_and_cap_at_1000,
            runs::unfinished_runs_are_in_progress_suspended_or_in_error,
            runs::step_logs_are_kept_per_attempt_and_replaced_on_reexecution,
            runs::live_runs_are_listed_by_the_stage_they_are_in,
            runs::concurrent_commits_all_land_and_the_last_state_wins,
            runs::start_keys_are_held_once_per_caller_and_replaced_only_for_the_run_named,
            catalog::flow_versions_are_numbered_activated_and_rolled_back,
            catalog::activating_an_unknown_flow_version_is_not_found,
            catalog::flow_versions_are_quarantined_and_lifted_durably_with_their_audit,
            catalog::orchestration_versions_keep_their_definitions,
            directory::users_are_created_and_replaced,
            directory::groups_and_queues_replace_their_members_and_give_memberships,
            directory::tokens_are_issued_and_revoked_per_user,
            audit_and_jobs::audit_records_commit_with_their_run_and_read_back_newest_first_by_filter,
            audit_and_jobs::a_failed_commit_writes_neither_its_runs_nor_its_audit_records,
            audit_and_jobs::a_commit_built_on_a_failed_one_fails_unwritten,
            audit_and_jobs::a_job_run_leaves_pending_once_and_a_finished_job_cannot_end_again,
            audit_and_jobs::runs_are_selected_by_status_and_orchestration_for_a_job,
            retention::finished_runs_are_pruned_in_batches_with_their_logs_and_the_rest_kept,
            retention::ended_jobs_and_old_keys_are_pruned_and_running_ones_kept,
            retention::old_audit_records_are_listed_oldest_first_then_pruned_the_newest_kept,
            retention::superseded_flow_versions_nothing_uses_are_pruned_and_the_rest_kept,
        );
    };
    (@each $fresh:ident; $($module:ident :: $name:ident),* $(,)?) => {
        mod conformance {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(harness) = super::$fresh().await {
                        $crate::$module::$name(harness).await;
                    }
                }
            )*
        }
    };
}

/// The environment variable naming the PostgreSQL database tests may use
/// (`.ci/postgres` starts one and prints its URL).
pub const TEST_DATABASE: &str = "STAGECRAFT_TEST_DATABASE";

/// The URL of the PostgreSQL database for tests, or `None` with a loud
/// message when there is none here, so that the test skips. Under
/// `CI=true` a missing database fails the test instead: CI must not pass
/// by skipping.
pub fn test_database(test: &str) -> Option<String> {
    match std::env::var(TEST_DATABASE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{test}: {TEST_DATABASE} is not set, and CI=true requires PostgreSQL")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED {test}: no PostgreSQL here. Set {TEST_DATABASE} \
                 (export {TEST_DATABASE}=$(.ci/postgres)) to run it. ***\n"
            );
            None
        }
    }
}

/// A new, empty database on the server of `url` (the test database), for a
/// test that runs whole servers on it; its URL.
pub async fn fresh_database(url: &str, test: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "{test}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database accepts connections");
    tokio::spawn(connection);
    // Two statements: CREATE DATABASE cannot share a transaction.
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&statement)
            .await
            .expect("a database is created");
    }
    // The same server and credentials, another database.
    let server = url.split('?').next().unwrap_or(url);
    let server = server.rsplit_once('/').map_or(server, |(server, _)| server);
    format!("{server}/{name}")
}
