//! Per-run watchers: `wait_for` on one run is woken by that run's commits
//! only, not by every update the engine makes.

use stagecraft_core::run::{Run, RunId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Watchers(Mutex<HashMap<RunId, watch::Sender<Option<Arc<Run>>>>>);

impl Watchers {
    /// A receiver of `run`'s committed states from now on.
    pub(crate) fn watch(&self, run: &RunId) -> watch::Receiver<Option<Arc<Run>>> {
        let mut watchers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        watchers
            .entry(run.clone())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Tells the watchers of each committed run; forgets runs nobody watches.
    pub(crate) fn notify<'a>(&self, committed: impl Iterator<Item = &'a Arc<Run>>) {
        let mut watchers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if watchers.is_empty() {
            return;
        }
        for run in committed {
            if let Some(sender) = watchers.get(&run.id) {
                if sender.receiver_count() == 0 {
                    watchers.remove(&run.id);
                } else {
                    sender.send_replace(Some(Arc::clone(run)));
                }
            }
        }
    }
}
