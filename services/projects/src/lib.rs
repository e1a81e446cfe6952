//! The project-management service.

mod projects;

use kompass_catalog::TenantDirectory;
use kompass_proto::projects::v1::project_service_server::ProjectServiceServer;
use tonic::service::Routes;

/// Names the health service reports.
pub const SERVICES: &[&str] = &["kompass.projects.v1.ProjectService"];

#[derive(Clone)]
pub struct Projects {
    pub dir: TenantDirectory,
}

pub fn routes(state: Projects) -> Routes {
    Routes::new(ProjectServiceServer::new(projects::ProjectsApi(state)))
}

mod entity {
    pub mod project {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "projects")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub title: String,
            pub created_by: String,
            pub created_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}
