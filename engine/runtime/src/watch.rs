//! Per-run watchers: `wait_for` on one run is woken by that run's commits
//! only, not by every update the engine makes.

use stagecraft_core::run::{Run, RunId};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

type Senders = HashMap<RunId, watch::Sender<Option<Arc<Run>>>>;

#[derive(Default)]
pub(crate) struct Watchers(Mutex<Senders>);

/// A receiver of one run's committed states. Dropped (its wait met, timed
/// out or abandoned), it forgets the run if nobody else watches it, so
/// waits that are never met leave nothing behind.
pub(crate) struct Watch<'w> {
    watchers: &'w Watchers,
    run: RunId,
    receiver: watch::Receiver<Option<Arc<Run>>>,
}

impl Deref for Watch<'_> {
    type Target = watch::Receiver<Option<Arc<Run>>>;

    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl DerefMut for Watch<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut watchers = self.watchers.lock();
        // This receiver is still alive: it is the last one if the count is 1.
        if watchers
            .get(&self.run)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            watchers.remove(&self.run);
        }
    }
}

impl Watchers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Senders> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of `run`'s committed states from now on.
    pub(crate) fn watch(&self, run: &RunId) -> Watch<'_> {
        let receiver = self
            .lock()
            .entry(run.clone())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe();
        Watch {
            watchers: self,
            run: run.clone(),
            receiver,
        }
    }

    /// Tells the watchers of each committed run; forgets runs nobody watches.
    pub(crate) fn notify<'a>(&self, committed: impl Iterator<Item = &'a Arc<Run>>) {
        let mut watchers = self.lock();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_ends_leaves_nothing_behind() {
        let watchers = Watchers::default();
        let run = RunId("r".into());
        let first = watchers.watch(&run);
        let second = watchers.watch(&run);
        drop(first);
        assert_eq!(watchers.lock().len(), 1, "still watched by the second");
        drop(second);
        assert!(
            watchers.lock().is_empty(),
            "forgotten with its last watcher"
        );
    }
}
