//! The reporting service. The national read model fed by `evaluation.published`
//! events arrives with the reporting issue; until then no results are published.

use kompass_auth::PlatformRole;
use kompass_core::paging;
use kompass_grpc::caller;
use kompass_proto::reporting::v1::{
    self as pb,
    reporting_service_server::{ReportingService, ReportingServiceServer},
};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

/// Names the health service reports.
pub const SERVICES: &[&str] = &["kompass.reporting.v1.ReportingService"];

#[derive(Clone, Default)]
pub struct Reporting;

pub fn routes(state: Reporting) -> Routes {
    Routes::new(ReportingServiceServer::new(state))
}

#[tonic::async_trait]
impl ReportingService for Reporting {
    async fn list_published_results(
        &self,
        req: Request<pb::ListPublishedResultsRequest>,
    ) -> Result<Response<pb::ListPublishedResultsResponse>, Status> {
        let c = caller(&req);
        c.user()?;
        if !c.is_operator() && !c.has_role(PlatformRole::Analyst) {
            return Err(kompass_core::Error::denied(
                "national results are for analysts and operators",
                "nationella resultat är till för analytiker och operatörer",
            )
            .into());
        }
        paging::page_size(req.get_ref().page_size)?;
        Ok(Response::new(pb::ListPublishedResultsResponse::default()))
    }
}
