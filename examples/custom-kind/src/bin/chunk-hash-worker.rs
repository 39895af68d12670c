//! A stock `cluster-worker`, every flag included, that also runs
//! `chunk-hash`.

fn main() -> anyhow::Result<()> {
    cluster_cli::worker::WorkerMain::new().typed(custom_kind::ChunkHash).run_from_args()
}
