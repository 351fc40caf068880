//! classlink-operator keeps a school's roster in sync with its ClassLink Roster Server.
//!
//! The sync engine ([`engine`]: filtering, matching, merging, counting) is plain Rust over
//! plain data. Around it are three edges: the OneRoster client ([`oneroster`]), the roster
//! store ([`store`]) and the Kubernetes controller ([`controller`], with the resources in
//! [`crd`] and the nightly schedule in [`schedule`]). [`sync`] runs one sync end to end for
//! both the controller and the CLI ([`cli`]); [`error_code`] names every outcome.

#[cfg(all(not(miri), not(target_env = "msvc")))]
pub mod allocator;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod engine;
pub mod error_code;
pub mod intern;
pub mod oneroster;
pub mod schedule;
pub mod store;
pub mod sync;
