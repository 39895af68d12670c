//! Generated types and gRPC services of the `cluster.v1` contract
//! (`proto/cluster/v1/*.proto`).
#![allow(unreachable_pub, missing_docs, clippy::all)]

/// `package cluster.v1`.
pub mod v1 {
    tonic::include_proto!("cluster.v1");
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("cluster_descriptor");

pub use v1::*;
