//! Tests of Stagecraft's HTTP API, console and command line, each on a
//! free loopback port with a temporary data directory: the server library
//! in this process where a test needs only HTTP (`Server::in_process`), the
//! real `stagecraft serve` where it needs a process (signals, kill -9,
//! restarts, start-up failures, several nodes).

mod support;

mod api;
mod auth;
mod browser;
mod campaign;
mod cluster;
mod commands;
mod console;
mod dry_run;
mod flow_limits;
mod full_disk;
mod operability;
mod pinning;
mod polyglot;
mod postgres;

mod rate_limits;
mod repair;
mod restart;
mod retention;
mod robustness;
mod scenario;
mod shutdown;
mod starts;
