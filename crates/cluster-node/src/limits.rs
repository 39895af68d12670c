//! Size defaults every node agrees on.

/// Default largest gRPC message, accepted or sent, in bytes: tonic's
/// default of 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

// The room kept in each message for its envelope, and the batching that
// keeps every stream message under the limit: `cluster_proto::batch`.

/// HTTP/2 flow-control window of one stream, both ways: how much of a
/// stream's data may be in flight unread.
pub const STREAM_WINDOW: u32 = 1 << 20;

/// HTTP/2 window of a whole connection. Many stream windows' worth, so a
/// stream its reader leaves unread (a submission waiting for room in the
/// queue, results a client has not read yet) cannot stop the other calls
/// on the same connection.
pub const CONNECTION_WINDOW: u32 = 16 * STREAM_WINDOW;
