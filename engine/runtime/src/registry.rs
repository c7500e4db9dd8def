//! What the engine has deployed, in memory: the active version of each flow
//! (compiled and ready), every orchestration plan, and the external actions.
//! Swapping an entry is atomic, which is what makes a deploy a hot swap.

use crate::action::ExternalAction;
use crate::runner::LoadedFlow;
use lru::LruCache;
use stagecraft_core::{Catalog, FlowPin, Plan};
use stagecraft_host::FlowKind;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// A compiled flow version.
#[derive(Clone)]
pub(crate) struct ActiveFlow {
    pub(crate) version: u32,
    pub(crate) flow: LoadedFlow,
}

/// Inactive versions kept compiled at most: each holds its compiled code.
const MAX_PINNED: NonZeroUsize = NonZeroUsize::new(64).expect("not zero");

pub(crate) struct Registry {
    flows: RwLock<HashMap<String, ActiveFlow>>,
    /// Versions that are no longer (or not yet) active but that a step is
    /// pinned to, compiled on first use; at most [`MAX_PINNED`], the least
    /// recently used dropped first (and compiled again, or read from the
    /// compile cache, if a step needs it again).
    pinned: Mutex<LruCache<(String, u32), LoadedFlow>>,
    /// Stored versions that cannot run, with why (a component that failed
    /// its integrity check at start).
    unavailable: RwLock<HashMap<(String, u32), String>>,
    /// Quarantined versions, with why.
    quarantined: RwLock<HashMap<(String, u32), String>>,
    /// Versions deployed with a memory limit of their own, in bytes.
    memory_limits: RwLock<HashMap<(String, u32), usize>>,
    /// The kind of every flow loaded or set aside (a flow keeps its kind).
    kinds: RwLock<HashMap<String, FlowKind>>,
    plans: RwLock<HashMap<(String, u32), Arc<Plan>>>,
    active_orchestrations: RwLock<HashMap<String, u32>>,
    pub(crate) actions: HashMap<String, Arc<dyn ExternalAction>>,
}

impl Registry {
    pub(crate) fn new(actions: HashMap<String, Arc<dyn ExternalAction>>) -> Self {
        Self {
            flows: RwLock::default(),
            pinned: Mutex::new(LruCache::new(MAX_PINNED)),
            unavailable: RwLock::default(),
            quarantined: RwLock::default(),
            memory_limits: RwLock::default(),
            kinds: RwLock::default(),
            plans: RwLock::default(),
            active_orchestrations: RwLock::default(),
            actions,
        }
    }

    /// The version new steps of `name` use, ready to run.
    pub(crate) fn flow(&self, name: &str) -> Option<ActiveFlow> {
        read(&self.flows).get(name).cloned()
    }

    /// The version a step starting now pins.
    pub(crate) fn pin(&self, name: &str) -> Option<FlowPin> {
        read(&self.flows).get(name).map(|active| FlowPin {
            version: active.version,
            digest: active.flow.digest().to_owned(),
        })
    }

    /// `version` of `name`, if it is active or was loaded for a pinned step.
    pub(crate) fn flow_version(&self, name: &str, version: u32) -> Option<LoadedFlow> {
        if let Some(active) = read(&self.flows).get(name)
            && active.version == version
        {
            return Some(Arc::clone(&active.flow));
        }
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(name.to_owned(), version))
            .cloned()
    }

    /// Why `version` of `name` cannot run, if it cannot; with `None` (the
    /// active version), only when no version of it is active.
    pub(crate) fn unavailable(&self, name: &str, version: Option<u32>) -> Option<String> {
        let unavailable = read(&self.unavailable);
        match version {
            Some(version) => unavailable.get(&(name.to_owned(), version)).cloned(),
            None if read(&self.flows).contains_key(name) => None,
            None => unavailable
                .iter()
                .find(|((flow, _), _)| flow == name)
                .map(|(_, why)| why.clone()),
        }
    }

    /// Marks a stored version as unable to run; activating a good version
    /// of the flow clears it for that version.
    pub(crate) fn set_unavailable(&self, name: &str, version: u32, kind: FlowKind, why: String) {
        write(&self.kinds).insert(name.to_owned(), kind);
        write(&self.unavailable).insert((name.to_owned(), version), why);
    }

    /// Why `version` of `name` is quarantined, if it is.
    pub(crate) fn quarantined(&self, name: &str, version: u32) -> Option<String> {
        read(&self.quarantined)
            .get(&(name.to_owned(), version))
            .cloned()
    }

    /// Quarantines `version` of `name` (`Some(why)`) or lifts it (`None`).
    pub(crate) fn set_quarantine(&self, name: &str, version: u32, why: Option<String>) {
        let key = (name.to_owned(), version);
        match why {
            Some(why) => write(&self.quarantined).insert(key, why),
            None => write(&self.quarantined).remove(&key),
        };
    }

    /// Records `version` of `name`'s own memory limit, if it has one.
    pub(crate) fn set_memory_limit(&self, name: &str, version: u32, memory_bytes: Option<usize>) {
        let key = (name.to_owned(), version);
        match memory_bytes {
            Some(bytes) => write(&self.memory_limits).insert(key, bytes),
            None => write(&self.memory_limits).remove(&key),
        };
    }

    /// `flow`, as `version` of `name`, under its own memory limit if it has one.
    pub(crate) fn limited(&self, name: &str, version: u32, flow: LoadedFlow) -> LoadedFlow {
        match read(&self.memory_limits).get(&(name.to_owned(), version)) {
            Some(bytes) => flow.with_memory_limit(*bytes),
            None => flow,
        }
    }

    /// The kind of flow `name`, whether or not a version of it can run.
    pub(crate) fn kind(&self, name: &str) -> Option<FlowKind> {
        read(&self.kinds).get(name).copied()
    }

    /// Keeps a loaded, inactive `version` of `name` for the steps pinned to it.
    pub(crate) fn add_pinned(&self, name: &str, version: u32, flow: LoadedFlow) {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put((name.to_owned(), version), flow);
    }

    /// Makes `version` of `name` the active one. Steps already running keep
    /// the flow they hold and finish on it.
    pub(crate) fn activate_flow(&self, name: &str, active: ActiveFlow) {
        write(&self.unavailable).remove(&(name.to_owned(), active.version));
        write(&self.kinds).insert(name.to_owned(), active.flow.kind());
        write(&self.flows).insert(name.to_owned(), active);
    }

    pub(crate) fn plan(&self, name: &str, version: u32) -> Option<Arc<Plan>> {
        read(&self.plans).get(&(name.to_owned(), version)).cloned()
    }

    /// The plan new runs of `name` use.
    pub(crate) fn active_plan(&self, name: &str) -> Option<Arc<Plan>> {
        let version = *read(&self.active_orchestrations).get(name)?;
        self.plan(name, version)
    }

    pub(crate) fn add_plan(&self, plan: Plan, active: bool) {
        let key = (plan.name().to_owned(), plan.version());
        if active {
            write(&self.active_orchestrations).insert(key.0.clone(), key.1);
        }
        write(&self.plans).insert(key, Arc::new(plan));
    }
}

impl Catalog for Registry {
    fn flow_kind(&self, name: &str) -> Option<stagecraft_core::FlowKind> {
        self.flow(name).map(|active| active.flow.kind())
    }

    fn has_action(&self, name: &str) -> bool {
        self.actions.contains_key(name)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
