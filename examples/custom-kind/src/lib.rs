//! An example of bringing your own work to the mesh in Rust: the kind
//! `chunk-hash` computes the SHA-256 of one chunk of a large, generated data
//! stream (think: checking a multi-gigabyte file in parallel, each worker
//! reading its own range). `chunk-hash-worker` is a stock worker with this
//! kind added; `chunk-hash-client` splits a stream into chunks, runs them
//! on the cluster and checks the digests.

use cluster_tasks::{CancelToken, TaskError, TypedKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One chunk of the stream named by `seed`: `len` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Which stream.
    pub seed: u64,
    /// Where the chunk starts, in bytes; a multiple of 8.
    pub offset: u64,
    /// How long it is, in bytes.
    pub len: u64,
}

/// A chunk's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDigest {
    /// SHA-256 of the chunk, in lowercase hex.
    pub sha256: String,
    /// Bytes hashed.
    pub len: u64,
}

/// Largest chunk a task takes: 256 MiB.
pub const MAX_CHUNK: u64 = 256 << 20;

/// The `chunk-hash` kind.
pub struct ChunkHash;

impl TypedKind for ChunkHash {
    const NAME: &'static str = "chunk-hash";
    type Input = Chunk;
    type Output = ChunkDigest;

    fn run(&self, chunk: Chunk, cancel: &CancelToken) -> Result<ChunkDigest, TaskError> {
        if !chunk.offset.is_multiple_of(8) {
            return Err(TaskError::invalid_input(format!("offset {} is not a multiple of 8", chunk.offset)));
        }
        if chunk.len > MAX_CHUNK {
            return Err(TaskError::invalid_input(format!(
                "chunk of {} bytes is over {MAX_CHUNK}",
                chunk.len
            )));
        }
        digest(chunk, || cancel.is_cancelled()).ok_or_else(|| TaskError::failed("cancelled while hashing"))
    }
}

/// The chunk's digest, computed here; `None` if `stop` said so on the way.
pub fn digest(chunk: Chunk, stop: impl Fn() -> bool) -> Option<ChunkDigest> {
    let mut hasher = Sha256::new();
    let mut block = Vec::with_capacity(64 * 1024);
    let mut word = chunk.offset / 8;
    let mut left = chunk.len;
    while left > 0 {
        if stop() {
            return None;
        }
        block.clear();
        while block.len() < 64 * 1024 && left > 0 {
            let bytes = splitmix64(chunk.seed ^ word).to_le_bytes();
            let take = left.min(8) as usize;
            block.extend_from_slice(&bytes[..take]);
            left -= take as u64;
            word += 1;
        }
        hasher.update(&block);
    }
    Some(ChunkDigest { sha256: hex::encode(hasher.finalize()), len: chunk.len })
}

/// The stream's 8-byte word at an index: any chunk can be made on its own.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stream of `size` bytes cut into chunks of at most `chunk` bytes (a
/// multiple of 8).
pub fn chunks(seed: u64, size: u64, chunk: u64) -> Vec<Chunk> {
    let chunk = (chunk / 8).max(1) * 8;
    (0..size.div_ceil(chunk))
        .map(|i| Chunk { seed, offset: i * chunk, len: chunk.min(size - i * chunk) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_hashes_the_same_alone_or_as_part_of_the_stream() {
        let whole = digest(Chunk { seed: 7, offset: 0, len: 1 << 20 }, || false).unwrap();
        let parts = chunks(7, 1 << 20, 1 << 18);
        assert_eq!(parts.len(), 4);
        let mut hasher = Sha256::new();
        for part in &parts {
            let mut bytes = Vec::new();
            for word in part.offset / 8..(part.offset + part.len) / 8 {
                bytes.extend_from_slice(&splitmix64(7 ^ word).to_le_bytes());
            }
            hasher.update(&bytes);
        }
        assert_eq!(whole.sha256, hex::encode(hasher.finalize()));
    }

    #[test]
    fn bad_chunks_are_refused_with_the_reason() {
        let err = ChunkHash.run(Chunk { seed: 1, offset: 3, len: 8 }, &CancelToken::new()).unwrap_err();
        assert_eq!(err.message, "offset 3 is not a multiple of 8");
    }
}
