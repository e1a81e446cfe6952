use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::context::{Authenticator, ContextLayer};

/// Serves `routes` on `listener` with health (every name in `services` and the
/// server as a whole report SERVING) and reflection v1 and v1alpha — Python's
/// grpcio and older grpcurl builds speak only v1alpha.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    services: &[&str],
    auth: Arc<Authenticator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for s in services {
        reporter
            .set_service_status(*s, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = reflection(services)
        .build_v1()
        .expect("descriptor set is valid");
    let reflection_v1alpha = reflection(services)
        .build_v1alpha()
        .expect("descriptor set is valid");
    let routes = routes
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    tracing::info!(service, addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving");
    Server::builder()
        .timeout(std::time::Duration::from_secs(60))
        .layer(ContextLayer::new(auth, service))
        .add_routes(routes)
        // Without TCP_NODELAY a response written in pieces waits ~40 ms for
        // the client's delayed ACK (Nagle).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

/// Reflection that lists only what this server answers: its own services,
/// health and reflection itself (a `grpcurl list` must not show services that
/// would answer UNIMPLEMENTED here).
fn reflection(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    let mut b = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kompass_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection");
    for s in services {
        b = b.with_service_name(*s);
    }
    b
}
