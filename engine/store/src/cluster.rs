//! What a store shared by several engine nodes adds to the contract: runs
//! owned through leases, and commands routed to a run's owner.
//!
//! A store that serves one node (SQLite) keeps the defaults of
//! [`crate::Store`]: every run is its node's, and nothing is routed. A
//! shared store (PostgreSQL) owns each unfinished run with work in flight
//! by at most one node at a time. Ownership is fenced by an epoch that
//! every claim raises: a node writes a run only at the epoch it claimed it
//! with, so a node that lost a run (paused, partitioned, slow) cannot
//! overwrite a newer state; its commit fails and it reloads what it still
//! owns.

use stagecraft_core::run::{Run, RunId};

/// What [`crate::Store::claim`] found for a run a node does not hold.
#[derive(Debug)]
pub enum Claim {
    /// The run, now this node's (or read only, if it is finished).
    Claimed(Box<Run>),
    /// No such run.
    Missing,
    /// Another live node owns the run: commands for it are routed there.
    OwnedBy(String),
}

/// A command another node routed to this one, whose node owns its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The route's id, to answer it.
    pub id: i64,
    /// The run the command is for.
    pub run: RunId,
    /// The command, as the engine encoded it.
    pub command: String,
}

/// Where a routed command stands, for the node that routed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteState {
    /// Not answered yet.
    Waiting,
    /// The owner's answer, as the engine encoded it.
    Answered(String),
    /// Withdrawn before any node took it: the run's owner let it go or
    /// stopped. The command was not applied; the caller applies it itself.
    Withdrawn,
    /// The node that took it stopped before answering: whether it was
    /// applied is unknown.
    Lost {
        /// The node that took it.
        node: String,
    },
}

/// What became of a routed command its sender gave up waiting for
/// ([`crate::Store::abandon_route`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandoned {
    /// No node had taken it: it was not applied, and never will be.
    NotTaken,
    /// A node took it and has not answered: whether it was applied is
    /// unknown. A late answer is dropped.
    Unanswered {
        /// The node that took it.
        node: String,
    },
    /// It had ended meanwhile (answered, withdrawn or lost): read its
    /// state instead.
    Ended,
}
