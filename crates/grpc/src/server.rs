use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::context::{Authenticator, ContextLayer};

/// The health name that reports only that the server answers.
pub const LIVENESS: &str = "kompass.liveness";

/// A check of something a server cannot work without (the catalog database,
/// Redis); `Err` says what is wrong.
pub type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How a server protects itself and reports its health.
#[derive(Clone)]
pub struct Options {
    /// Calls handled at once; 0: no limit (see [`ContextLayer::with_concurrency_limit`]).
    pub max_concurrent_requests: usize,
    /// Checked every `probe_interval`: health reports NOT_SERVING, for the
    /// server and each of its services, while any fails, and SERVING again
    /// once all pass, so a load balancer stops sending calls that could only
    /// fail and the server needs no restart to come back.
    pub probes: Vec<(&'static str, Probe)>,
    pub probe_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_concurrent_requests: 0,
            probes: Vec::new(),
            probe_interval: Duration::from_secs(2),
        }
    }
}

async fn set_status(
    reporter: &tonic_health::server::HealthReporter,
    services: &[String],
    status: ServingStatus,
) {
    reporter.set_service_status("", status).await;
    for s in services {
        reporter.set_service_status(s, status).await;
    }
}

/// The first failing probe, if any; each gets `timeout` to answer.
async fn first_failure(probes: &[(&'static str, Probe)], timeout: Duration) -> Option<String> {
    for (what, probe) in probes {
        match tokio::time::timeout(timeout, probe()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Some(format!("{what}: {e}")),
            Err(_) => return Some(format!("{what}: no answer within {timeout:?}")),
        }
    }
    None
}

/// Runs the probes until dropped, turning health over as they fail and pass.
async fn watch_health(
    reporter: tonic_health::server::HealthReporter,
    services: Vec<String>,
    probes: Vec<(&'static str, Probe)>,
    every: Duration,
) {
    let timeout = every.max(Duration::from_secs(1));
    let mut serving = true;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let failure = first_failure(&probes, timeout).await;
        match (&failure, serving) {
            (Some(why), true) => {
                tracing::warn!(reason = %why, "health: NOT_SERVING");
                set_status(&reporter, &services, ServingStatus::NotServing).await;
                serving = false;
            }
            (None, false) => {
                tracing::info!("health: SERVING again");
                set_status(&reporter, &services, ServingStatus::Serving).await;
                serving = true;
            }
            _ => {}
        }
    }
}

/// Serves `routes` on `listener` with health (every name in `services` and the
/// server as a whole; see [`Options::probes`]) and reflection v1 and v1alpha —
/// Python's grpcio and older grpcurl builds speak only v1alpha.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    services: &[&str],
    auth: Arc<Authenticator>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    set_status(&reporter, &names, ServingStatus::Serving).await;
    // Stays SERVING while the process answers at all: what a liveness probe
    // asks, so a catalog outage takes pods out of rotation (readiness)
    // without restarting them all.
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    let watcher = (!options.probes.is_empty()).then(|| {
        tokio::spawn(watch_health(
            reporter.clone(),
            names,
            options.probes.clone(),
            options.probe_interval,
        ))
    });
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
    let served = Server::builder()
        .timeout(Duration::from_secs(60))
        .layer(
            ContextLayer::new(auth, service)
                .with_concurrency_limit(options.max_concurrent_requests),
        )
        .add_routes(routes)
        // Without TCP_NODELAY a response written in pieces waits ~40 ms for
        // the client's delayed ACK (Nagle).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    if let Some(w) = watcher {
        w.abort();
    }
    served
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
