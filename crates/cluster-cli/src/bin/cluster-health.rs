//! `cluster-health`: asks a coordinator or a worker whether it is serving,
//! over the standard `grpc.health.v1` service (no secret needed), for
//! Docker's HEALTHCHECK in an image without a shell, or any script.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cluster_auth::Security;
use cluster_cli::security::ClientTlsArgs;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Exits 0 when the server at ADDRESS answers SERVING, 1 otherwise (not
/// serving, unknown service, unreachable, or no answer in time); prints
/// the status or the error on one line.
#[derive(Parser, Debug)]
#[command(name = "cluster-health", version)]
struct Args {
    /// The coordinator or worker to ask, as host:port or a URL.
    #[arg(env = "CLUSTER_HEALTH_ADDRESS", default_value = "127.0.0.1:7700")]
    address: String,
    /// The service to ask about (e.g. cluster.v1.ClientService); empty for
    /// the server as a whole.
    #[arg(long, env = "CLUSTER_HEALTH_SERVICE", default_value = "")]
    service: String,
    /// Longest the whole check may take (e.g. 3s; a plain number is
    /// milliseconds).
    #[arg(long, env = "CLUSTER_HEALTH_TIMEOUT_MS", default_value_t = 3000, value_parser = cluster_cli::duration::positive_millis)]
    timeout_ms: u64,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

#[tokio::main(flavor = "current_thread")]
pub(crate) async fn main() -> ExitCode {
    let args = Args::parse();
    let timeout = Duration::from_millis(args.timeout_ms);
    match tokio::time::timeout(timeout, check(&args, timeout)).await {
        Ok(Ok(ServingStatus::Serving)) => {
            println!("SERVING");
            ExitCode::SUCCESS
        }
        Ok(Ok(status)) => {
            println!("{}", status.as_str_name());
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("cluster-health: {}: {error}", args.address);
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("cluster-health: {}: no answer within {} ms", args.address, args.timeout_ms);
            ExitCode::FAILURE
        }
    }
}

async fn check(args: &Args, timeout: Duration) -> Result<ServingStatus, String> {
    let security = Security { client_tls: args.tls.tls(), ..Security::default() };
    let channel =
        cluster_node::connect(&security, &args.address, timeout).await.map_err(|e| e.to_string())?;
    let request = HealthCheckRequest { service: args.service.clone() };
    let response = HealthClient::new(channel).check(request).await.map_err(|status| match status.code() {
        tonic::Code::NotFound => format!("no service `{}` here", args.service),
        code => format!("{code:?}: {}", status.message()),
    })?;
    // An out-of-range status off the wire reads as UNKNOWN.
    Ok(ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown))
}
