//! Generated types and gRPC services of the `cluster.v1` contract
//! (`proto/cluster/v1/*.proto`).
#![warn(missing_docs)]

/// `package cluster.v1`.
#[allow(unreachable_pub, missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("cluster.v1");
}

pub mod batch;

/// Most cores a worker may advertise: a coordinator counts no more, so a
/// bogus core count cannot make it think the whole cluster is idle.
pub const MAX_CORES: u32 = 4096;

/// Encoded `FileDescriptorSet` of the contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("cluster_descriptor");

pub use v1::*;
