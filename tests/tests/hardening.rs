//! Misbehaving peers and unlucky conditions: each test plays the peer that
//! does not play along and checks the promise still holds.

use anyhow::Result;
use cluster_client::tasks;
use cluster_proto::client_service_client::ClientServiceClient;
use cluster_proto::{JobOptions, SubmitRequest};
use cluster_testkit::ProcCluster;

/// A client that submits `count` noop tasks and never reads a result: its
/// response stream is kept open, unread.
async fn submit_and_never_read(
    url: String,
    count: u64,
) -> Result<tonic::Response<tonic::Streaming<cluster_proto::SubmitResponse>>> {
    let mut client = ClientServiceClient::connect(url).await?;
    let mut next = 0;
    let mut options = Some(JobOptions { name: "deaf".into(), ..JobOptions::default() });
    let requests = futures_stream(std::iter::from_fn(move || {
        if next >= count {
            return None;
        }
        let end = (next + 1024).min(count);
        let batch = (next..end).map(tasks::noop).collect();
        next = end;
        Some(SubmitRequest { options: options.take(), tasks: batch })
    }));
    Ok(client.submit(requests).await?)
}

fn futures_stream<T: Send + 'static>(
    items: impl Iterator<Item = T> + Send + 'static,
) -> impl tokio_stream::Stream<Item = T> + Send + 'static {
    tokio_stream::iter(items)
}

#[tokio::test]
async fn a_client_that_reads_nothing_pauses_its_job_and_holds_bounded_memory() -> Result<()> {
    let cluster =
        ProcCluster::start(&[vec!["--cpus", "1"], vec!["--cpus", "1"]], &["--max-queued", "20000"]).await?;
    let total = 400_000;
    let _unread = submit_and_never_read(cluster.url(), total).await?;
    let status = cluster
        .wait_status("the job to wait for its client", |s| s.jobs.iter().any(|j| j.waiting_for_client))
        .await?;
    let job = &status.jobs[0];
    assert!(job.finished < total / 2, "{} results held for a client that reads nothing", job.finished);
    let (rss, peak) = cluster.coordinator.rss()?;
    eprintln!("paused after {} of {total} results; coordinator RSS {rss} B, peak {peak} B", job.finished);
    assert!(peak < 64 << 20, "coordinator peak RSS {peak} bytes (now {rss})");
    // Still paused a moment later: nothing more is dispatched for it.
    let again = cluster.wait_status("status", |_| true).await?;
    assert!(again.jobs[0].waiting_for_client);
    assert!(
        again.jobs[0].finished <= job.finished + 2 * 1024,
        "{} then {}",
        job.finished,
        again.jobs[0].finished
    );
    Ok(())
}
