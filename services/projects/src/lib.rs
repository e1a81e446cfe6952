//! The project-management service: improvement projects of a tenant, their
//! plan and organisation, links to published evaluation results (checked
//! with the assessment service over gRPC), phases with decision points,
//! milestones and activities, the risk register, status reports and the
//! communication plan. Creation, edits, risk changes, phase decisions and
//! status reports are events on stream "projects" through the tenant
//! database's `project_outbox`, each carrying the project's portfolio
//! summary for the reporting service.

mod access;
mod assessment;
mod documents;
mod domain;
mod entity;
mod load;
mod model;
mod parts;
mod portfolio;
mod projects;
mod relay;
mod util;

use kompass_catalog::TenantDirectory;
use kompass_events::Bus;
use kompass_proto::projects::v1::project_service_server::ProjectServiceServer;
use tonic::service::Routes;

pub use portfolio::CHANGED_TOPIC;
pub use projects::{PHASE_CHANGED_TOPIC, STATUS_REPORT_FILED_TOPIC};
pub use relay::OUTBOX;
pub use util::sql_statements;

/// Names the health service reports.
pub const SERVICES: &[&str] = &["kompass.projects.v1.ProjectService"];

/// Response header of GetProject: SQL statements the call sent.
pub const SQL_STATEMENTS_HEADER: &str = "x-kompass-sql-statements";

#[derive(Clone)]
pub struct Projects {
    pub dir: TenantDirectory,
    pub assessment: assessment::AssessmentApi,
    pub relay: relay::RelayHandle,
}

impl Projects {
    /// `assessment_url`: where the assessment service answers gRPC (the
    /// connection is made on first use). Starts the outbox relay.
    pub fn new(dir: TenantDirectory, assessment_url: String, bus: Bus) -> Projects {
        let relay = relay::spawn(dir.clone(), bus, relay::OUTBOX);
        Projects {
            assessment: assessment::AssessmentApi::new(&assessment_url),
            dir,
            relay,
        }
    }
}

pub fn routes(state: Projects) -> Routes {
    Routes::new(ProjectServiceServer::new(projects::ProjectsApi(state)))
}
