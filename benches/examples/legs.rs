//! One leg of a job's round trip, alone: this program plays the
//! coordinator to a real `cluster-worker` process (release build), sends
//! one `noop` assignment at a time on an open session and waits for its
//! completion; then times unary `GetInfo` calls to the same worker, which
//! open an HTTP/2 stream each. The difference is what a stream's set-up
//! costs. Extra arguments go to the worker, e.g. `--async-threads 1`.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p cluster-bench --example legs
//! ```

use std::time::Instant;

use cluster_proto::worker_service_client::WorkerServiceClient;
use cluster_proto::{
    coordinator_message, worker_message, AssignBatch, Assignment, CoordinatorMessage, GetInfoRequest,
};
use cluster_testkit::Proc;

const WARMUP: usize = 1_000;
const ROUNDS: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let extra = std::env::args().skip(1);
        let worker = Proc::worker(["--cpus".to_string(), "1".to_string()].into_iter().chain(extra))?;
        let channel =
            tonic::transport::Endpoint::from_shared(worker.url())?.tcp_nodelay(true).connect().await?;
        let mut client = WorkerServiceClient::new(channel);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<CoordinatorMessage>();
        let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let mut session = client.session(requests).await?.into_inner();
        session.message().await?; // the worker's hello
        let mut leg = Vec::with_capacity(ROUNDS);
        for key in 0..(WARMUP + ROUNDS) as u64 {
            let start = Instant::now();
            let task = Some(cluster_client::tasks::noop(key));
            let tasks = vec![Assignment { key, task, ..Assignment::default() }];
            let event = coordinator_message::Event::Assign(AssignBatch { tasks });
            tx.send(CoordinatorMessage { event: Some(event) })?;
            loop {
                let message = session.message().await?.ok_or_else(|| anyhow::anyhow!("session ended"))?;
                if let Some(worker_message::Event::Completions(_)) = message.event {
                    break;
                }
            }
            if key as usize >= WARMUP {
                leg.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        let mut unary = Vec::with_capacity(ROUNDS);
        for i in 0..WARMUP + ROUNDS {
            let start = Instant::now();
            client.get_info(GetInfoRequest {}).await?;
            if i >= WARMUP {
                unary.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        for (what, mut micros) in
            [("assignment on an open session", leg), ("unary GetInfo (a new stream)", unary)]
        {
            micros.sort_by(f64::total_cmp);
            let at = |q: f64| micros[((q * micros.len() as f64) as usize).min(micros.len() - 1)];
            println!("{what}: p50 {:.0} us, p99 {:.0} us, min {:.0} us", at(0.5), at(0.99), micros[0]);
        }
        anyhow::Ok(())
    })
}
