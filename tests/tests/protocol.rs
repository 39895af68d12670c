//! Protocol rules a client in any language relies on (proto/README.md):
//! task ids are unique within a job, and `Cancel` names a running job.

use anyhow::Result;
use cluster_client::{tasks, ClientError};
use cluster_testkit::ProcCluster;

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_task_id_refuses_its_job_with_invalid_argument() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "2"]], &[]).await?;
    // A job running beside the refused one loses nothing.
    let mut beside = cluster.client().await?;
    let good = tokio::spawn(async move {
        let mut ids = Vec::new();
        let summary = beside.run("beside", (0..40).map(|i| tasks::spin(i, 5)), |r| ids.push(r.id)).await;
        summary.map(|s| (s, ids))
    });
    let batch = vec![tasks::sum_primes(0, 100), tasks::sum_primes(1, 10), tasks::sum_primes(1, 20)];
    let err = cluster.client().await?.run("dup", batch, |_| {}).await.unwrap_err();
    let ClientError::Status { code, message } = err else { panic!("expected a status, got {err}") };
    assert_eq!(code, tonic::Code::InvalidArgument, "{message}");
    assert!(message.starts_with("task id 1 appears twice in job "), "{message}");
    assert!(message.ends_with(": task ids must be unique within a job"), "{message}");
    let (summary, mut ids) = good.await??;
    ids.sort_unstable();
    assert_eq!((summary.succeeded, ids), (40, (0..40).collect::<Vec<u64>>()));
    // The coordinator serves on, and keeps no trace of the refused job.
    let mut client = cluster.client().await?;
    assert_eq!(client.run("after", vec![tasks::sum_primes(0, 100)], |_| {}).await?.succeeded, 1);
    assert!(client.status().await?.jobs.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_id_repeated_in_a_later_message_is_refused_too() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "2"]], &[]).await?;
    // The client sends 1,024 tasks a message: the first message's tasks go
    // to the coordinator's queue with the job's opening, and id 7 comes
    // again in the second message.
    let batch = (0..1024).chain([7]).map(tasks::noop);
    let err = cluster.client().await?.run("dup-later", batch, |_| {}).await.unwrap_err();
    let ClientError::Status { code, message } = err else { panic!("expected a status, got {err}") };
    assert_eq!(code, tonic::Code::InvalidArgument, "{message}");
    assert!(message.starts_with("task id 7 appears twice in job "), "{message}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_of_an_unknown_or_finished_job_is_not_found() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &[]).await?;
    let mut client = cluster.client().await?;
    let not_found = |err: ClientError| match err {
        ClientError::Status { code: tonic::Code::NotFound, message } => message,
        other => panic!("expected NOT_FOUND, got {other}"),
    };
    let message = not_found(client.cancel(12_345).await.unwrap_err());
    assert_eq!(message, "no job 12345: it never existed or has already finished");
    let mut job = 0;
    client.run_with(Default::default(), vec![tasks::noop(0)], |id| job = id, |_| {}).await?;
    let message = not_found(client.cancel(job).await.unwrap_err());
    assert_eq!(message, format!("no job {job}: it never existed or has already finished"));
    Ok(())
}

/// HTTP/2 closes a connection after 1,024 streams reset by its own side: a
/// client that ran each job's call only up to its summary lost its
/// connection after about 1,700 jobs.
#[tokio::test(flavor = "multi_thread")]
async fn one_connection_runs_thousands_of_jobs_one_after_another() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &["--async-threads", "1"]).await?;
    let mut client = cluster.client().await?;
    for job in 0..2_500 {
        let summary = client.run("one", std::iter::once(tasks::noop(0)), |_| {}).await;
        let summary = summary.map_err(|e| anyhow::anyhow!("job {job}: {e}"))?;
        assert_eq!(summary.succeeded, 1, "job {job}");
    }
    Ok(())
}

/// Small jobs (one message of tasks) share one stream per client; larger
/// ones open their own. Mixed on one client, each gets exactly its results,
/// and a small job refused mid-way leaves the next one a fresh stream.
#[tokio::test(flavor = "multi_thread")]
async fn small_and_large_jobs_mixed_on_one_client_each_get_their_results() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "2"]], &[]).await?;
    let mut client = cluster.client().await?;
    for round in 0..20u64 {
        // Over one message (1,024 tasks): a stream of its own.
        let size = if round % 5 == 4 { 3_000 } else { 1 + round };
        let mut ids = Vec::new();
        let summary = client.run("mixed", (0..size).map(|i| tasks::sum_primes(i, 10 + i)), |r| {
            ids.push(r.id);
        });
        let summary = summary.await.map_err(|e| anyhow::anyhow!("round {round}: {e}"))?;
        ids.sort_unstable();
        assert_eq!((summary.succeeded, ids), (size, (0..size).collect::<Vec<u64>>()), "round {round}");
        if round == 10 {
            let dup = vec![tasks::noop(7), tasks::noop(7)];
            let err = client.run("dup", dup, |_| {}).await.unwrap_err();
            assert!(matches!(err, ClientError::Status { code: tonic::Code::InvalidArgument, .. }), "{err}");
        }
    }
    Ok(())
}

/// The stream a client keeps between small jobs dies with its coordinator;
/// the next small job, once a coordinator is back on that address, runs on
/// a new one instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn small_jobs_go_on_after_the_coordinator_restarts_between_them() -> Result<()> {
    use cluster_testkit::{Cmd, Proc};
    let worker = Proc::worker(["--cpus", "1"])?;
    let start = |listen: &str| {
        Cmd::new("cluster-coordinator")
            .and_then(|cmd| cmd.args(["--listen", listen, "--worker", worker.addr()]).start())
    };
    let coordinator = start("127.0.0.1:0")?;
    let listen = coordinator.addr().to_string();
    let mut client = cluster_client::Client::connect(&coordinator.url()).await?;
    for _ in 0..3 {
        assert_eq!(client.run("before", vec![tasks::sum_primes(0, 100)], |_| {}).await?.succeeded, 1);
    }
    drop(coordinator); // killed
    let _coordinator = start(&listen)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut sums = Vec::new();
    loop {
        // The worker may take a moment to be dialled again: a job may wait
        // for it, but must not fail on the dead stream.
        match client.run("after", vec![tasks::sum_primes(0, 100)], |r| sums.push(r)).await {
            Ok(summary) => {
                assert_eq!(summary.succeeded, 1);
                break;
            }
            Err(e) if e.is_cluster_failure() && std::time::Instant::now() < deadline => {
                assert!(!matches!(e, ClientError::ConnectionLost(_)), "ran on the dead stream: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(sums.len(), 1);
    Ok(())
}

/// The stream a client keeps open between small jobs does not hold a
/// coordinator's shutdown: SIGTERM ends it at once, and the coordinator
/// never has to cut open calls off after its grace period.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_shared_stream_does_not_hold_the_coordinators_shutdown() -> Result<()> {
    let mut cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &[]).await?;
    let mut client = cluster.client().await?;
    assert_eq!(client.run("one", vec![tasks::noop(0)], |_| {}).await?.succeeded, 1);
    cluster.coordinator.signal(cluster_testkit::Signal::Term);
    let status = cluster.coordinator.wait_exit(std::time::Duration::from_secs(30))?;
    let log = cluster.coordinator.log();
    assert!(status.success(), "{status}: {log}");
    assert!(!log.contains("calls still open"), "the idle stream held the shutdown: {log}");
    Ok(())
}

/// A registration names a worker by host:port only: a URL (which could
/// name the coordinator's own in-process servers) is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_with_a_url_instead_of_host_port_is_refused() -> Result<()> {
    use cluster_proto::registry_service_client::RegistryServiceClient;
    let cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &[]).await?;
    let mut registry = RegistryServiceClient::connect(cluster.url()).await?;
    for address in ["inproc://worker-127.0.0.1:1", "http://127.0.0.1:1"] {
        let request = cluster_proto::RegisterRequest { address: address.into(), worker_id: String::new() };
        let status = registry.register(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert_eq!(status.message(), format!("`{address}` is not a host:port address"));
    }
    let mut client = cluster.client().await?;
    assert_eq!(client.status().await?.workers.len(), 1);
    Ok(())
}
