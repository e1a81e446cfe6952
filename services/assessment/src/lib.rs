//! The assessment service.

mod entity;
mod evaluations;

use kompass_catalog::TenantDirectory;
use kompass_proto::assessment::v1::evaluation_service_server::EvaluationServiceServer;
use tonic::service::Routes;

/// Names the health service reports.
pub const SERVICES: &[&str] = &["kompass.assessment.v1.EvaluationService"];

#[derive(Clone)]
pub struct Assessment {
    pub dir: TenantDirectory,
}

pub fn routes(state: Assessment) -> Routes {
    Routes::new(EvaluationServiceServer::new(evaluations::Evaluations(
        state,
    )))
}
