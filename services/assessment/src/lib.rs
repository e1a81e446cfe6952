//! The assessment service: frameworks, evaluations and their lifecycle,
//! evaluator assignments, individual and agreed scores, evidence and
//! information requests, narratives, audit trail, sealed publication.
//!
//! Tenant data lives in the tenant's database; framework versions and
//! evaluator assignments (both platform-wide by nature) in assessment-owned
//! tables of the platform database.

mod access;
mod audit;
mod entity;
mod evaluations;
mod evidence;
mod frameworks;
mod narratives;
mod relay;
mod scoring;
pub mod store;
mod util;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use kompass_catalog::TenantDirectory;
use kompass_events::Bus;
use kompass_proto::assessment::v1::evaluation_service_server::EvaluationServiceServer;
use kompass_proto::assessment::v1::evidence_service_server::EvidenceServiceServer;
use kompass_proto::assessment::v1::framework_service_server::FrameworkServiceServer;
use kompass_proto::assessment::v1::narrative_service_server::NarrativeServiceServer;
use kompass_proto::assessment::v1::scoring_service_server::ScoringServiceServer;
use sea_orm::DatabaseConnection;
use tonic::service::Routes;

pub use relay::OUTBOX;

/// Names the health service reports.
pub const SERVICES: &[&str] = &[
    "kompass.assessment.v1.FrameworkService",
    "kompass.assessment.v1.EvaluationService",
    "kompass.assessment.v1.ScoringService",
    "kompass.assessment.v1.EvidenceService",
    "kompass.assessment.v1.NarrativeService",
];

/// Methods open without a token. Framework versions are listed to the public
/// without their questions: the public comparison needs the areas only.
pub const ANONYMOUS: &[&str] = &[
    "/kompass.assessment.v1.EvaluationService/VerifyPublication",
    "/kompass.assessment.v1.FrameworkService/ListFrameworkVersions",
];

#[derive(Clone)]
pub struct Assessment {
    pub dir: TenantDirectory,
    /// The platform database (assessment-owned tables only).
    pub platform: DatabaseConnection,
    pub bus: Bus,
    pub relay: relay::RelayHandle,
    /// Agreed points of published evaluations by (tenant, evaluation): sealed,
    /// so they never change; read for every score of a next cycle.
    pub sealed_agreed: moka::sync::Cache<(String, String), Arc<BTreeMap<String, i64>>>,
    /// Evaluation rows by (tenant, evaluation) as last read, for the fields
    /// that never change after creation (kind, framework, previous cycle):
    /// a score write reads them here instead of from the database.
    pub evaluation_rows: moka::sync::Cache<(String, String), Arc<entity::evaluation::Model>>,
    /// Imported framework versions in use, parsed: such a version can no
    /// longer be replaced (see [`frameworks::mark_in_use`]).
    pub frameworks_in_use: moka::sync::Cache<String, Arc<kompass_frameworks::Framework>>,
}

impl Assessment {
    /// Starts the outbox relay with the service.
    pub fn new(dir: TenantDirectory, platform: DatabaseConnection, bus: Bus) -> Assessment {
        let relay = relay::spawn(dir.clone(), bus.clone(), relay::OUTBOX);
        Assessment {
            dir,
            platform,
            bus,
            relay,
            sealed_agreed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
            evaluation_rows: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            frameworks_in_use: moka::sync::Cache::builder()
                .max_capacity(100)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
        }
    }
}

pub fn routes(state: Assessment) -> Routes {
    Routes::new(FrameworkServiceServer::new(frameworks::Frameworks(
        state.clone(),
    )))
    .add_service(EvaluationServiceServer::new(evaluations::Evaluations(
        state.clone(),
    )))
    .add_service(ScoringServiceServer::new(scoring::Scoring(state.clone())))
    .add_service(
        // Documents up to 10 MiB travel in one message.
        EvidenceServiceServer::new(evidence::EvidenceApi(state.clone()))
            .max_decoding_message_size(12 * 1024 * 1024),
    )
    .add_service(NarrativeServiceServer::new(narratives::Narratives(state)))
}
