//! classlink-operator keeps a school's roster in sync with its ClassLink Roster Server.
//!
//! The crate is laid out by edge: `crd` holds the Kubernetes resources; the CLI in `cli`
//! dispatches the subcommands.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod engine;
pub mod error_code;
pub mod oneroster;
pub mod schedule;
pub mod store;
pub mod sync;
