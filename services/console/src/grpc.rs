//! Calls to the services on the reader's behalf: their token (if signed in)
//! and their language on every request.

use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::transport::Channel;

use crate::Console;
use crate::pages::Page;

impl Page {
    /// `msg` with the reader's token and language.
    pub fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(u) = &self.user
            && let Ok(v) = format!("Bearer {}", u.token).parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r.metadata_mut().insert(
            "accept-language",
            tonic::metadata::MetadataValue::from_static(self.t.0.service_language()),
        );
        r
    }
}

impl Console {
    pub fn reporting(&self) -> ReportingServiceClient<Timed> {
        // Reports and exports can be large (PDF); the default 4 MiB limit is too tight.
        ReportingServiceClient::new(Timed(self.reporting.clone()))
            .max_decoding_message_size(64 << 20)
    }
    pub fn evaluations(&self) -> EvaluationServiceClient<Timed> {
        EvaluationServiceClient::new(Timed(self.assessment.clone()))
    }
    pub fn frameworks(&self) -> FrameworkServiceClient<Timed> {
        FrameworkServiceClient::new(Timed(self.assessment.clone()))
    }
    pub fn tenants(&self) -> TenantServiceClient<Timed> {
        TenantServiceClient::new(Timed(self.tenancy.clone()))
    }
    pub fn users(&self) -> UserServiceClient<Timed> {
        UserServiceClient::new(Timed(self.tenancy.clone()))
    }
}

/// gRPC calls the console has made since start, and the time until their
/// responses arrived: the console benchmark reads both around each page (one
/// page at a time) to set a page's cost beside its calls'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTotals {
    pub calls: u64,
    pub nanos: u64,
}

static CALLS: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

pub fn call_totals() -> CallTotals {
    CallTotals {
        calls: CALLS.load(Ordering::Relaxed),
        nanos: NANOS.load(Ordering::Relaxed),
    }
}

/// A channel that counts its calls and their time (two relaxed atomics per
/// call: nothing grows, nothing is locked).
#[derive(Clone, Debug)]
pub struct Timed(pub Channel);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for Timed {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let start = Instant::now();
        let fut = tower::Service::call(&mut self.0, req);
        Box::pin(async move {
            let r = fut.await;
            CALLS.fetch_add(1, Ordering::Relaxed);
            NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            r
        })
    }
}
