//! The cluster's commands, `cluster-coordinator`, `cluster-worker` and
//! `cluster-submit` (in `src/bin/`), and what they share: the security flag
//! groups ([`security`]), each flag also read from a `CLUSTER_*`
//! environment variable. [`worker::WorkerMain`] is the whole worker command
//! as a library, for worker binaries with their own task kinds.
//!
//! Only this crate depends on clap, anyhow and indicatif; the role crates
//! are libraries that the commands configure and start.
#![warn(missing_docs)]

pub mod connections;
pub mod logging;
pub mod security;
pub mod worker;
