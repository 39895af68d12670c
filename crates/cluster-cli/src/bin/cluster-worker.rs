//! `cluster-worker`: serve tasks on this machine's cores (the built-in
//! kinds; `exec` with `--allow-exec`).

fn main() -> anyhow::Result<()> {
    cluster_cli::worker::WorkerMain::new().run_from_args()
}
