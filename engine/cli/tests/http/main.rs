//! Tests of the real `stagecraft` binary: `serve` on a free loopback port
//! with a temporary data directory, driven over HTTP and by the client
//! commands.

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
