//! Operating a cluster: health checks without credentials, reflection
//! behind the secret, Prometheus metrics, JSON logs. Real binaries on
//! 127.0.0.1, port 0.

use std::time::Duration;

use anyhow::{Context, Result};
use cluster_auth::{Secret, Security};
use cluster_testkit::{stderr, stdout, Cmd, Proc, Signal, DEADLINE};
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

async fn channel(proc: &Proc, security: &Security) -> Result<cluster_auth::AuthChannel> {
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
async fn list_services(channel: cluster_auth::AuthChannel) -> Result<Vec<String>, tonic::Status> {
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
