//! Compiles `proto/cluster/v1/*.proto` with protox (pure Rust), so a fresh
//! clone builds with cargo alone, no system `protoc`.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not baked in at compile time: a build script
    // compiled in another checkout (a copied target/, a git worktree) must
    // still read this checkout's files.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = ["cluster/v1/tasks.proto", "cluster/v1/client.proto", "cluster/v1/worker.proto"];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("cluster_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
