//! Tenant databases: where they live ([`Backend`]), how they are made and
//! migrated ([`Backend::create_database`], [`migrate_locked`]), and the
//! connection registry every service draws per-request connections from
//! ([`TenantDbs`]).

mod backend;
mod registry;

pub use backend::{Backend, Placement, TemplateCopy, begin_write, migrate_locked};
pub use registry::{RegistryStats, TenantDb, TenantDbs, TenantDbsConfig};
