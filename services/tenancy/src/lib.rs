//! The tenancy control plane: TenantService and UserService.

mod convert;
pub mod onboarding;
pub mod seed;
pub use convert::{Country, NewTenant};
mod tenants;
mod users;

use kompass_catalog::Catalog;
use kompass_proto::tenancy::v1::tenant_service_server::TenantServiceServer;
use kompass_proto::tenancy::v1::user_service_server::UserServiceServer;
use kompass_tenant_db::TenantDbs;
use tonic::service::Routes;

/// Names the health service reports.
pub const SERVICES: &[&str] = &[
    "kompass.tenancy.v1.TenantService",
    "kompass.tenancy.v1.UserService",
];

#[derive(Clone)]
pub struct Tenancy {
    pub catalog: Catalog,
    pub dbs: TenantDbs,
    pub tenant_db_prefix: String,
}

pub fn routes(state: Tenancy) -> Routes {
    Routes::new(TenantServiceServer::new(tenants::Tenants(state.clone())))
        .add_service(UserServiceServer::new(users::Users(state)))
}
