//! The cluster coordinator.
pub mod core;
