//! The reporting service: evaluation reports and their PDF/XLSX/CSV exports,
//! radar profiles, national comparisons, trends, good examples, key figures
//! and open data.
//!
//! Everything is answered from the service's own read model (the
//! `reporting_*` tables in the analytics database — the platform database by
//! default), fed by `evaluation.published` events from the `evaluations`
//! stream through the consumer group [`GROUP`]: at least once, idempotent
//! (a redelivered or duplicated event changes nothing), acknowledged after
//! commit. No tenant database is read at request time. The project
//! portfolio is fed the same way from every event on the `projects` stream
//! (each carries the project's summary).
//!
//! Publicity: a tenant's published external reports are public (readable
//! without a token, listed in open data and good examples, named in
//! rankings) exactly when the tenant agreed to be named in comparisons
//! (`named_in_comparisons` in the catalog, checked at request time).

mod cache;
mod comparison;
mod export;
pub mod metrics;
mod pdf;
mod portfolio;
/// The radar geometry, shared with the benchmark's copy of the previous exporter.
pub mod radar;
mod report;
mod service;
pub mod stats;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use kompass_catalog::Catalog;
use kompass_events::{Bus, streams};
use kompass_proto::reporting::v1::reporting_service_server::ReportingServiceServer;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tonic::service::Routes;

pub use comparison::compute as compute_comparison;
pub use pdf::report_series;

/// The report of a published event without averages or key figures (for
/// benchmarks and tools; the service adds both from its read model).
pub fn build_report(
    ev: &kompass_proto::assessment::v1::EvaluationPublishedEvent,
    fw: &kompass_frameworks::Framework,
    en: bool,
) -> Result<kompass_proto::reporting::v1::EvaluationReport, kompass_core::Error> {
    report::build(ev, fw, None, None, en, true)
}

/// A report as the PDF the export gives (without the previous evaluation
/// and the national spread, which come from the read model).
pub fn render_report_pdf(
    r: &kompass_proto::reporting::v1::EvaluationReport,
    fw: &kompass_frameworks::Framework,
    lang: kompass_documents::Lang,
) -> Result<Vec<u8>, kompass_documents::Error> {
    pdf::render(r, None, None, fw, lang)
}
pub use kompass_migration_reporting::Migrator;

/// Names the health service reports.
pub const SERVICES: &[&str] = &["kompass.reporting.v1.ReportingService"];

/// Methods open without a token (they serve public data only then).
pub const ANONYMOUS: &[&str] = &[
    "/kompass.reporting.v1.ReportingService/GetEvaluationReport",
    "/kompass.reporting.v1.ReportingService/ExportEvaluationReport",
    "/kompass.reporting.v1.ReportingService/GetRadarProfile",
    "/kompass.reporting.v1.ReportingService/SearchGoodExamples",
    "/kompass.reporting.v1.ReportingService/ExportOpenData",
    // Over named municipalities only for the public.
    "/kompass.reporting.v1.ReportingService/GetNationalComparison",
    // The same figures typeset, so the public's too.
    "/kompass.reporting.v1.ReportingService/ExportNationalComparison",
];

/// Consumer group of the read model on the `evaluations` stream.
pub const GROUP: &str = "reporting";

/// How often tenant metadata (consent, population) is re-copied from the catalog.
const TENANT_REFRESH: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Reporting {
    /// The analytics database (reporting-owned tables only).
    pub db: DatabaseConnection,
    /// The catalog: tenant metadata and consent; framework versions live in
    /// the same platform database.
    pub catalog: Catalog,
    pub bus: Bus,
    cache: Arc<cache::Cache>,
    /// Smallest comparison group figures are shown for.
    min_group: u32,
    counters: Arc<metrics::Counters>,
    consumer: kompass_events::ConsumerOptions,
}

impl Reporting {
    /// `redis`: (url, key prefix) for the shared comparison cache; `None`
    /// keeps it in the process (embedded mode).
    pub fn new(
        db: DatabaseConnection,
        catalog: Catalog,
        bus: Bus,
        redis: Option<(&str, &str)>,
    ) -> Reporting {
        let cache = match redis {
            Some((url, prefix)) => cache::Cache::redis(url, prefix).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "bad Redis URL for the comparison cache; caching in process");
                cache::Cache::memory()
            }),
            None => cache::Cache::memory(),
        };
        Reporting {
            db,
            catalog,
            bus,
            cache: Arc::new(cache),
            min_group: 5,
            counters: Arc::default(),
            consumer: Default::default(),
        }
    }

    /// How the read model's consumers read and when they give up on an event.
    pub fn with_consumer_options(mut self, o: kompass_events::ConsumerOptions) -> Reporting {
        self.consumer = o;
        self
    }

    /// Sets the smallest comparison group figures are shown for
    /// (`KOMPASS_COMPARISON_MIN_GROUP`).
    pub fn with_min_group(mut self, n: u32) -> Reporting {
        self.min_group = n.max(1);
        self
    }

    /// Publications this consumer refused so far, by reason.
    pub fn rejected_publications(&self) -> metrics::RejectedPublications {
        self.counters.snapshot()
    }

    /// Applies one event to the read model and drops cached comparisons.
    /// Returns whether the delivery may be acknowledged.
    pub async fn handle(&self, event_id: &str, topic: &str, payload: &[u8]) -> bool {
        self.apply(event_id, topic, payload).await.is_ok()
    }

    /// [`Reporting::handle`], with why a delivery may not be acknowledged
    /// yet (kept with the event if it ends in the dead-letter stream).
    pub async fn apply(&self, event_id: &str, topic: &str, payload: &[u8]) -> Result<(), String> {
        if topic.starts_with("project.") {
            return match portfolio::apply(&self.db, event_id, topic, payload).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::warn!(event_id, error = %e, "reporting: project event not applied; will retry");
                    Err(e.to_string())
                }
            };
        }
        match store::apply(&self.db, &self.catalog, event_id, topic, payload).await {
            Ok(store::Applied::Ignored) => Ok(()),
            Ok(store::Applied::Rejected { evaluation, why }) => {
                // Refused for good: acknowledged so it does not block the
                // stream, counted and logged for whoever watches the seals.
                self.counters.rejected(&why);
                tracing::error!(
                    event_id,
                    evaluation = %evaluation,
                    reason = why.reason(),
                    "reporting: publication refused: {why}"
                );
                Ok(())
            }
            Ok(applied) => {
                if applied == store::Applied::Stored {
                    tracing::info!(event_id, "reporting: publication stored");
                }
                self.cache.invalidate().await.map_err(|e| {
                    tracing::warn!(error = %e, "reporting: cache invalidation failed; will retry");
                    format!("comparison cache invalidation: {e}")
                })
            }
            Err(e) => {
                tracing::warn!(event_id, error = %e, "reporting: event not applied; will retry");
                Err(e.to_string())
            }
        }
    }

    /// Runs the consumers of both streams, and the refresh of tenant
    /// metadata, until `shutdown` turns true.
    pub fn spawn_consumer(&self, shutdown: watch::Receiver<bool>) {
        // A pod's name: what it left pending is taken over by the others
        // (`XAUTOCLAIM`) once it has been idle for the claim time.
        let consumer = std::env::var("HOSTNAME").unwrap_or_else(|_| "reporting".into());
        for stream in [streams::EVALUATIONS, streams::PROJECTS] {
            let st = self.clone();
            tokio::spawn(kompass_events::consume(
                self.bus.clone(),
                stream,
                GROUP,
                consumer.clone(),
                self.consumer,
                shutdown.clone(),
                move |d| {
                    let st = st.clone();
                    async move { st.apply(&d.event_id, &d.topic, &d.payload).await }
                },
            ));
        }
        let st = self.clone();
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TENANT_REFRESH);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                match store::refresh_tenants(&st.db, &st.catalog).await {
                    Ok(true) => {
                        let _ = st.cache.invalidate().await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "reporting: tenant refresh failed"),
                }
            }
        });
    }
}

pub fn routes(state: Reporting) -> Routes {
    Routes::new(ReportingServiceServer::new(service::Api(state)))
}
