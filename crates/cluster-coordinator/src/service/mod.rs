//! The gRPC services: thin translations between streams and actor commands.

pub(crate) mod client_api;
pub(crate) mod registry_api;
mod task_reader;
