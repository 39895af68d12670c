//! The standard gRPC services every listener carries besides its own:
//! `grpc.health.v1.Health` (answered without credentials, see
//! `cluster_auth::ServerAuthLayer`) and server reflection (v1 and v1alpha,
//! behind the secret like every other service).

use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::serve::{SecureRouter, SecureServer, ServeError};

/// What a listener tells health probes: `SERVING` or `NOT_SERVING`, for the
/// server as a whole (the empty service name) and for each of its services
/// by name. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    services: &'static [&'static str],
}

impl Health {
    /// Sets the status of the server and of every one of its services;
    /// watchers are told at once.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status("", status).await;
        for service in self.services {
            self.reporter.set_service_status(service, status).await;
        }
    }

    /// The server is about to stop: `NOT_SERVING`, then ends every `Watch`
    /// stream (so none holds the stop for its grace period); from here a
    /// `Check` gets `NOT_FOUND`, if the server still answers at all.
    pub async fn close(&self) {
        self.set_serving(false).await;
        let mut reporter = self.reporter.clone();
        reporter.clear_service_status("").await;
        for service in self.services {
            reporter.clear_service_status(service).await;
        }
    }
}

/// Adds health and reflection to `builder`, for a listener that serves
/// `services` (full names, e.g. `cluster.v1.ClientService`) described in
/// the encoded `descriptor_set`. Health starts as `NOT_SERVING`: the caller
/// says when the listener can do its work.
pub async fn standard_services(
    builder: &mut SecureServer,
    descriptor_set: &'static [u8],
    services: &'static [&'static str],
) -> Result<(SecureRouter, Health), ServeError> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health { reporter, services };
    health.set_serving(false).await;
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for service in services {
            builder = builder.with_service_name(*service);
        }
        builder
    };
    let error = |e: tonic_reflection::server::Error| ServeError::Reflection(e.to_string());
    let v1 = reflection().build_v1().map_err(error)?;
    let v1alpha = reflection().build_v1alpha().map_err(error)?;
    let router = builder.add_service(health_service).add_service(v1).add_service(v1alpha);
    Ok((router, health))
}

/// Whether the server behind `channel` says over `grpc.health.v1` (which
/// needs no credentials) that it carries `service`, e.g.
/// `cluster.v1.WorkerService`: to tell a user who dialed the wrong kind of
/// node what answered.
pub async fn serves(channel: crate::Channel, service: &str) -> bool {
    let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    client.check(request).await.is_ok()
}
