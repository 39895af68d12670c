//! Size defaults every node agrees on.

/// Default largest gRPC message, accepted or sent, in bytes: tonic's
/// default of 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Bytes of a message kept for its envelope: what a batch or a result may
/// fill is `max_message_bytes - MESSAGE_HEADROOM`.
pub const MESSAGE_HEADROOM: usize = 1024;
