//! Shared code of the `cluster-bench` binary and the criterion benches: the
//! in-process harness around the coordinator's scheduling core.
#![warn(missing_docs)]

pub mod dispatch;
