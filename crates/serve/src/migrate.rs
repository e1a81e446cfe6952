//! `kompass migrate`: the catalog, then every tenant database with bounded
//! concurrency. One tenant failing does not stop the others.

use futures::StreamExt;
use kompass_catalog::{Catalog, entity::tenant};
use kompass_tenant_db::{Backend, Placement};
use sea_orm::{EntityTrait, QueryOrder};

use crate::ServeError;

#[derive(Debug, Default)]
pub struct MigrationReport {
    /// Servers whose onboarding template was re-created.
    pub templates: Vec<String>,
    /// Servers whose template could not be re-created (onboarding there
    /// creates and migrates instead), with the error.
    pub templates_failed: Vec<(String, String)>,
    pub migrated: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Migrates the platform database: the catalog and the platform-level
/// tables services own there (each with its own migration table and lock).
pub async fn migrate_platform(catalog_url: &str) -> Result<(), ServeError> {
    Catalog::migrate(catalog_url).await?;
    let single = Catalog::connect(catalog_url, 1).await?;
    let mut res = kompass_tenant_db::migrate_locked::<
        kompass_migration_assessment_platform::Migrator,
    >(single.db())
    .await;
    if res.is_ok() {
        res = kompass_tenant_db::migrate_locked::<kompass_reporting::Migrator>(single.db()).await;
    }
    single.db().clone().close().await.ok();
    res.map_err(|e| kompass_core::Error::internal(format!("platform migration failed: {e}")))?;
    Ok(())
}

/// Migrates the reporting service's tables in a separate analytics database
/// (`database.analytics_url`).
pub async fn migrate_analytics(url: &str) -> Result<(), ServeError> {
    let single = connect_analytics(url, 1).await?;
    let res = kompass_tenant_db::migrate_locked::<kompass_reporting::Migrator>(&single).await;
    single.close().await.ok();
    res.map_err(|e| kompass_core::Error::internal(format!("analytics migration failed: {e}")))?;
    Ok(())
}

/// Migrates everything: the platform database, then each server's onboarding
/// template (re-created from the current migrations), then every tenant
/// database; `progress` is called after each tenant with (done, total).
pub async fn migrate_all(
    catalog_url: &str,
    backend: &Backend,
    prefix: &str,
    concurrency: usize,
    progress: impl Fn(usize, usize, &str),
) -> Result<MigrationReport, ServeError> {
    migrate_platform(catalog_url).await?;
    let mut report = MigrationReport::default();
    if matches!(backend, Backend::Postgres { .. }) {
        for server in backend.server_names() {
            match kompass_tenancy::onboarding::refresh_template(backend, prefix, &server).await {
                Ok(()) => report.templates.push(server),
                Err(e) => report.templates_failed.push((server, e.to_string())),
            }
        }
    }
    let catalog = Catalog::connect(catalog_url, 2).await?;
    let tenants = tenant::Entity::find()
        .order_by_asc(tenant::Column::Id)
        .all(catalog.db())
        .await
        .map_err(kompass_core::Error::from)?;
    catalog.db().clone().close().await.ok();
    let total = tenants.len();
    let mut runs = futures::stream::iter(tenants.into_iter().map(|t| async move {
        let p = Placement {
            server: t.database_server.clone(),
            database: t.database_name.clone(),
        };
        let res = kompass_tenancy::onboarding::migrate_database(backend, &p).await;
        (t.id, res)
    }))
    .buffer_unordered(concurrency.max(1));
    let mut done = 0;
    while let Some((id, res)) = runs.next().await {
        done += 1;
        match res {
            Ok(()) => report.migrated.push(id.clone()),
            Err(e) => report.failed.push((id.clone(), e.to_string())),
        }
        progress(done, total, &id);
    }
    report.migrated.sort();
    report.failed.sort();
    Ok(report)
}

/// A pool on the analytics database.
pub async fn connect_analytics(
    url: &str,
    pool_size: u32,
) -> Result<sea_orm::DatabaseConnection, ServeError> {
    let mut opt = sea_orm::ConnectOptions::new(url.to_string());
    opt.max_connections(pool_size.max(1))
        .min_connections(0)
        .connect_timeout(std::time::Duration::from_secs(5))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .sqlx_logging(false);
    sea_orm::Database::connect(opt).await.map_err(|e| {
        kompass_core::Error::Unavailable(kompass_core::Msg::new(
            format!("analytics database is not reachable: {e}"),
            format!("analysdatabasen går inte att nå: {e}"),
        ))
        .into()
    })
}
