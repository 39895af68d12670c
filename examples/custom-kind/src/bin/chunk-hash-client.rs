//! Hashes a generated stream chunk by chunk on a cluster and checks every
//! digest against one computed here.

use clap::Parser;
use cluster_cli::security::ClientSecurityArgs;
use cluster_client::{tasks, Client};
use custom_kind::{chunks, digest, ChunkHash};

/// Hash a generated stream on the cluster, chunk by chunk.
#[derive(Parser, Debug)]
struct Args {
    /// Coordinator URL, e.g. http://127.0.0.1:7700.
    #[arg(long, env = "CLUSTER_COORDINATOR")]
    coordinator: String,
    /// Size of the stream, in MiB.
    #[arg(long, default_value_t = 64)]
    size_mib: u64,
    /// Size of a chunk, in MiB.
    #[arg(long, default_value_t = 4)]
    chunk_mib: u64,
    /// Which stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    security: ClientSecurityArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let parts = chunks(args.seed, args.size_mib << 20, args.chunk_mib << 20);
    let mut client = Client::connect_with(&args.coordinator, &args.security.load()?).await?;
    let submitted = parts
        .iter()
        .enumerate()
        .map(|(i, chunk)| tasks::typed::<ChunkHash>(i as u64, chunk))
        .collect::<Vec<_>>();
    let mut results = Vec::new();
    let summary = client.run("chunk-hash", submitted, |result| results.push(result)).await?;
    results.sort_by_key(|r| r.id);
    let mut wrong = 0;
    for result in &results {
        let chunk = parts[result.id as usize];
        match tasks::typed_output::<ChunkHash>(result) {
            Ok(got) if Some(&got) == digest(chunk, || false).as_ref() => {
                println!("chunk {:>4} at {:>10}: {} ({})", result.id, chunk.offset, got.sha256, result.worker)
            }
            Ok(got) => {
                wrong += 1;
                println!("chunk {:>4} at {:>10}: WRONG digest {}", result.id, chunk.offset, got.sha256);
            }
            Err(error) => {
                wrong += 1;
                println!("chunk {:>4} at {:>10}: failed: {}", result.id, chunk.offset, error.message);
            }
        }
    }
    println!(
        "{} chunks, {} right, {} failed or wrong",
        parts.len(),
        summary.succeeded - wrong,
        wrong + summary.failed
    );
    anyhow::ensure!(wrong == 0 && summary.failed == 0, "some chunks failed or came back wrong");
    Ok(())
}
