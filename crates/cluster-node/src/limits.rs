//! Size defaults every node agrees on.

/// Default largest gRPC message, accepted or sent, in bytes: tonic's
/// default of 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

// The room kept in each message for its envelope, and the batching that
// keeps every stream message under the limit: `cluster_proto::batch`.
