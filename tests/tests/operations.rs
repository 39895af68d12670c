//! Operating a cluster: health checks without credentials, reflection
//! behind the secret, Prometheus metrics, JSON logs. Real binaries on
//! 127.0.0.1, port 0.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use cluster_auth::{Secret, Security};
use cluster_client::tasks;
use cluster_tasks::{Registry, Spin};
use cluster_testkit::{
    active_workers, announced, stderr, stdout, wait_status, Cmd, Proc, ProcCluster, Signal, DEADLINE,
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

const SECRET: &str = "operations test secret";

fn with_secret() -> Security {
    Security { secret: Some(Secret::new(SECRET).unwrap()), ..Security::default() }
}

/// A server binary on a free loopback port with the secret in its environment.
fn secured(name: &str, args: &[&str]) -> Result<Proc> {
    Cmd::new(name)?.args(["--listen", "127.0.0.1:0"]).args(args).env("CLUSTER_SECRET", SECRET).start()
}

async fn channel(proc: &Proc, security: &Security) -> Result<cluster_node::Channel> {
    Ok(cluster_node::connect(security, proc.addr(), Duration::from_secs(5)).await?)
}

fn serving(status: i32) -> ServingStatus {
    ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown)
}

/// `cluster-health ADDRESS`: its exit status and what it printed.
fn cluster_health(address: &str, args: &[&str]) -> Result<(bool, String)> {
    let output = Cmd::new("cluster-health")?.args([address]).args(args).output(DEADLINE)?;
    Ok((output.status.success(), format!("{}{}", stdout(&output), stderr(&output))))
}

// Multi-threaded: the client's connections keep answering (HTTP/2 pings
// of the graceful shutdown) while the test blocks waiting for the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_the_secret_and_turns_not_serving_on_sigterm() -> Result<()> {
    let mut coordinator = secured("cluster-coordinator", &[])?;
    let open = Security::default();
    let mut health = HealthClient::new(channel(&coordinator, &open).await?);
    for service in ["", "cluster.v1.ClientService", "cluster.v1.RegistryService"] {
        let check = health.check(HealthCheckRequest { service: service.into() }).await?.into_inner();
        assert_eq!(serving(check.status), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health.check(HealthCheckRequest { service: "cluster.v1.WorkerService".into() }).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    // Everything else still needs the secret.
    let mut client =
        cluster_proto::client_service_client::ClientServiceClient::new(channel(&coordinator, &open).await?);
    let refused = client.status(cluster_proto::StatusRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    drop(client);
    assert_eq!(cluster_health(coordinator.addr(), &[])?, (true, "SERVING\n".into()));

    // A probe that watches sees the coordinator stop serving on SIGTERM.
    let mut watch = health.watch(HealthCheckRequest { service: String::new() }).await?.into_inner();
    let first = watch.message().await?.context("a first status")?;
    assert_eq!(serving(first.status), ServingStatus::Serving);
    coordinator.signal(Signal::Term);
    let next = tokio::time::timeout(DEADLINE, watch.message()).await??.context("a status on SIGTERM")?;
    assert_eq!(serving(next.status), ServingStatus::NotServing);
    drop(watch);
    assert!(coordinator.wait_exit(DEADLINE)?.success());
    let (ok, said) = cluster_health(coordinator.addr(), &["--timeout-ms", "5000"])?;
    assert!(!ok && said.contains("cannot connect"), "{said}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_answers_health_and_stops_serving_while_it_drains() -> Result<()> {
    let mut worker = secured("cluster-worker", &[])?;
    let (ok, said) = cluster_health(worker.addr(), &["--service", "cluster.v1.WorkerService"])?;
    assert!(ok, "{said}");
    let (ok, said) = cluster_health(worker.addr(), &["--service", "cluster.v1.ClientService"])?;
    assert!(!ok && said.contains("no service `cluster.v1.ClientService` here"), "{said}");
    let mut health = HealthClient::new(channel(&worker, &Security::default()).await?);
    let mut watch = health.watch(HealthCheckRequest { service: String::new() }).await?.into_inner();
    assert_eq!(serving(watch.message().await?.context("a status")?.status), ServingStatus::Serving);
    worker.signal(Signal::Term);
    let next = tokio::time::timeout(DEADLINE, watch.message()).await??.context("a status on SIGTERM")?;
    assert_eq!(serving(next.status), ServingStatus::NotServing);
    drop(watch);
    assert!(worker.wait_exit(DEADLINE)?.success());
    Ok(())
}

/// The services a server lists through reflection (v1).
async fn list_services(channel: cluster_node::Channel) -> Result<Vec<String>, tonic::Status> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(channel);
    let mut responses = client.server_reflection_info(tokio_stream::once(request)).await?.into_inner();
    let Some(response) = responses.message().await? else { return Ok(Vec::new()) };
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|service| service.name).collect())
        }
        other => Err(tonic::Status::internal(format!("unexpected reflection answer {other:?}"))),
    }
}

#[tokio::test]
async fn reflection_lists_the_services_with_the_secret_and_is_refused_without() -> Result<()> {
    let coordinator = secured("cluster-coordinator", &[])?;
    let mut services = list_services(channel(&coordinator, &with_secret()).await?).await?;
    services.sort();
    assert_eq!(services, ["cluster.v1.ClientService", "cluster.v1.RegistryService", "grpc.health.v1.Health"]);
    let refused = list_services(channel(&coordinator, &Security::default()).await?).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let worker = secured("cluster-worker", &[])?;
    let mut services = list_services(channel(&worker, &with_secret()).await?).await?;
    services.sort();
    assert_eq!(services, ["cluster.v1.WorkerService", "grpc.health.v1.Health"]);
    Ok(())
}

/// The metrics address a coordinator logged.
fn metrics_addr(coordinator: &Proc) -> String {
    coordinator.wait_log("/metrics");
    let log = coordinator.log();
    let start = log.find("metrics on http://").expect("the metrics line") + "metrics on http://".len();
    let end = start + log[start..].find("/metrics").expect("the path");
    log[start..end].to_string()
}

/// `GET /metrics` over a plain HTTP/1.1 connection: the body, after
/// checking the status and the content type.
async fn scrape(addr: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await?;
    let mut response = String::new();
    tokio::time::timeout(DEADLINE, stream.read_to_string(&mut response)).await??;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    Ok(body.to_string())
}

/// Parses Prometheus (OpenMetrics) text strictly: every line is a
/// `# HELP`, `# TYPE` or `# UNIT` line, a sample `name{labels} value`, or
/// the final `# EOF`. Returns each sample's value by `name{labels}`.
fn parse_metrics(text: &str) -> Result<std::collections::BTreeMap<String, f64>> {
    let mut samples = std::collections::BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text ends with # EOF");
    let name_ok = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !["HELP", "TYPE", "UNIT"].contains(&kind) || !name_ok(name) {
                bail!("bad comment line `{line}`");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').with_context(|| format!("no value in `{line}`"))?;
        let value: f64 = value.parse().with_context(|| format!("bad value in `{line}`"))?;
        let name = series.split('{').next().unwrap_or("");
        if !name_ok(name) {
            bail!("bad metric name in `{line}`");
        }
        if let Some(labels) = series.strip_prefix(name).filter(|rest| !rest.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
            let inner = inner.with_context(|| format!("bad labels in `{line}`"))?;
            for pair in inner.split(',') {
                let (key, quoted) = pair.split_once('=').with_context(|| format!("bad label in `{line}`"))?;
                let quoted_ok = quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"');
                if !name_ok(key) || !quoted_ok {
                    bail!("bad label `{pair}` in `{line}`");
                }
            }
        }
        samples.insert(series.to_string(), value);
    }
    Ok(samples)
}

/// A worker in this process that registers with `coordinator`.
async fn registered_worker(coordinator: &Proc, registry: Registry) -> Result<cluster_worker::RunningWorker> {
    let mut config = cluster_worker::WorkerConfig::new("127.0.0.1:0".parse()?);
    config.cores = 1;
    config.coordinator = Some(coordinator.url());
    config.advertise = Some("127.0.0.1:0".into());
    Ok(cluster_worker::start(config, registry).await?)
}

#[tokio::test]
async fn metrics_after_a_batch_with_a_retried_and_a_failed_task_have_the_right_counts() -> Result<()> {
    let coordinator = Proc::coordinator(["--metrics-listen", "127.0.0.1:0"])?;
    let metrics = metrics_addr(&coordinator);
    // The leaving worker's spin reports each task it starts, so it is
    // drained while a task is running there, not merely sent there.
    let (spin_kind, mut started) = announced(Spin);
    let leaving = registered_worker(&coordinator, Registry::builtin().with("spin", spin_kind)).await?;
    let staying = registered_worker(&coordinator, Registry::builtin()).await?;
    let mut client = coordinator.client().await?;
    wait_status(&mut client, "two workers", |s| active_workers(s) == 2).await?;
    let mut spins = client.clone();
    let run = tokio::spawn(async move {
        let mut attempts = 0;
        let summary = spins
            .run("spins", [tasks::spin(0, 2_000), tasks::spin(1, 2_000)], |r| attempts += r.attempts)
            .await;
        summary.map(|summary| (summary, attempts))
    });
    wait_status(&mut client, "a task on each worker", |s| s.workers.iter().all(|w| w.in_flight == 1)).await?;
    tokio::time::timeout(DEADLINE, started.recv()).await?.context("a task started on the leaving worker")?;
    assert_eq!(leaving.drain(Duration::ZERO).await, 1, "its running task was stopped and handed back");
    let (summary, attempts) = run.await??;
    assert_eq!((summary.succeeded, summary.failed), (2, 0));
    // Usually 1: the stopped task ran again once. Under load the coordinator
    // may hand it back to the draining worker before it hears of the drain
    // (it is stopped there again): the metric counts what the results say.
    let retries = f64::from(attempts - 2);
    assert!(retries >= 1.0, "the drained task was run again");
    let summary = client.run("bad", [tasks::sum_primes(0, 20_000_001)], |_| {}).await?;
    assert_eq!((summary.succeeded, summary.failed), (0, 1));

    let samples = parse_metrics(&scrape(&metrics).await?)?;
    let value =
        |series: &str| samples.get(series).copied().unwrap_or_else(|| panic!("no {series}: {samples:?}"));
    assert_eq!(value("cluster_tasks_submitted_total"), 3.0);
    assert_eq!(value("cluster_tasks_succeeded_total"), 2.0);
    assert_eq!(value("cluster_tasks_failed_total{code=\"invalid_input\"}"), 1.0);
    let failed: f64 =
        samples.iter().filter(|(k, _)| k.starts_with("cluster_tasks_failed_total")).map(|(_, v)| v).sum();
    assert_eq!(failed, 1.0);
    assert_eq!(value("cluster_task_retries_total"), retries);
    assert_eq!(value("cluster_tasks_cancelled_total"), 0.0);
    assert_eq!(value("cluster_jobs_started_total"), 2.0);
    assert_eq!(value("cluster_jobs_active"), 0.0);
    assert_eq!(value("cluster_queue_depth"), 0.0);
    assert_eq!(value("cluster_workers{state=\"active\"}"), 1.0);
    assert_eq!(value("cluster_workers{state=\"lost\"}"), 1.0);
    assert_eq!(value("cluster_task_run_seconds_count"), 3.0);
    assert_eq!(value("cluster_task_run_seconds_bucket{le=\"+Inf\"}"), 3.0);
    // Sampled: the first task of each job (and one in 16 after it).
    assert_eq!(value("cluster_task_latency_seconds_count"), 2.0);
    assert_eq!(value("cluster_auth_refusals_total"), 0.0);
    let completed: f64 =
        samples.iter().filter(|(k, _)| k.starts_with("cluster_worker_completed{")).map(|(_, v)| v).sum();
    assert_eq!(completed, 3.0, "the staying worker ran both spins and the bad task");
    staying.shutdown().await;
    Ok(())
}

#[test]
fn metrics_on_a_reachable_address_need_insecure() -> Result<()> {
    let output = Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"])
        .output(DEADLINE)?;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("refusing to serve metrics on 0.0.0.0:0 without --insecure"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

/// Every line of a process's stderr as JSON.
fn json_log(proc: &Proc) -> Vec<serde_json::Value> {
    proc.log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

fn find<'a>(lines: &'a [serde_json::Value], message: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with(message)))
        .unwrap_or_else(|| panic!("no `{message}` in {lines:#?}"))
}

#[tokio::test]
async fn json_log_lines_parse_and_carry_job_and_worker_fields() -> Result<()> {
    let json = ["--log-format", "json"];
    let cluster = ProcCluster::start(&[vec!["--cpus", "1", "--log-format", "json"]], &json).await?;
    let mut client = cluster.client().await?;
    let batch = [tasks::sum_primes(0, 100), tasks::sum_primes(1, 20_000_001)];
    let summary = client.run("mixed", batch, |_| {}).await?;
    assert_eq!((summary.succeeded, summary.failed), (1, 1));
    cluster.coordinator.wait_log("job finished");
    let lines = json_log(&cluster.coordinator);
    assert!(lines.iter().all(|l| l["timestamp"].is_string() && l["level"].is_string()), "{lines:#?}");
    let worker = cluster.workers[0].addr();
    let joined = find(&lines, "worker joined");
    assert_eq!(joined["level"], "INFO");
    assert_eq!(joined["address"], worker);
    assert!(joined["worker"].is_string() && joined["cores"] == 1, "{joined}");
    let finished = find(&lines, "job finished");
    let job = finished["job"].as_u64().context("a job id")?;
    assert_eq!(finished["name"], "mixed");
    assert!(finished["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:")), "{finished}");
    let failed = find(&lines, "task failed");
    assert_eq!((failed["job"].as_u64(), failed["task"].as_u64()), (Some(job), Some(1)));
    assert_eq!(failed["code"], "InvalidInput");
    assert!(failed["worker"].is_string(), "{failed}");
    assert!(failed["message"].as_str().is_some_and(|m| m.contains("above the maximum")), "{failed}");
    assert_eq!(finished["level"], "INFO");
    assert_eq!((finished["tasks"].as_u64(), finished["succeeded"].as_u64()), (Some(2), Some(1)));
    assert_eq!(finished["failed"].as_u64(), Some(1));
    assert!(finished["duration_ms"].is_u64() && finished["client"].is_string(), "{finished}");
    // The worker's own lines are JSON too.
    assert!(!json_log(&cluster.workers[0]).is_empty());
    Ok(())
}
