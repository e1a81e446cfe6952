//! Onboarding a tenant: catalog row (provisioning) → database → migrations →
//! active. Every step is safe to repeat, so a retry after a failure midway
//! completes the tenant; until then the tenant serves no requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use kompass_catalog::{Catalog, Invalidation, TenantRow, TenantState, entity::tenant};
use kompass_core::{Error, Msg};
use kompass_tenant_db::{Backend, Placement, TemplateCopy, TenantDbs};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter,
};

use crate::convert::NewTenant;

/// Picks the server a new tenant goes on: the requested one, or the least used.
async fn choose_server(
    catalog: &Catalog,
    backend: &Backend,
    wanted: Option<&str>,
) -> Result<String, Error> {
    let servers = backend.server_names();
    if let Some(w) = wanted {
        return if servers.iter().any(|s| s == w) {
            Ok(w.to_string())
        } else {
            Err(Error::InvalidArgument(Msg::new(
                format!(
                    "database server {w:?} is not configured; configured: {}",
                    servers.join(", ")
                ),
                format!(
                    "databasservern {w:?} är inte konfigurerad; konfigurerade: {}",
                    servers.join(", ")
                ),
            )))
        };
    }
    let mut best: Option<(u64, String)> = None;
    for s in servers {
        let n = tenant::Entity::find()
            .filter(tenant::Column::DatabaseServer.eq(s.as_str()))
            .count(catalog.db())
            .await?;
        if best.as_ref().is_none_or(|(m, _)| n < *m) {
            best = Some((n, s));
        }
    }
    best.map(|(_, s)| s)
        .ok_or_else(|| Error::internal("no database servers configured"))
}

pub async fn onboard(
    catalog: &Catalog,
    dbs: &TenantDbs,
    prefix: &str,
    t: NewTenant,
) -> Result<TenantRow, Error> {
    let existing = catalog.tenant(&t.id).await?;
    let row = match existing {
        Some(row) => {
            let same = row.display_name == t.display_name
                && row.country == t.country.as_str()
                && row.municipality_code == t.municipality_code;
            if !same {
                return Err(Error::AlreadyExists(Msg::new(
                    format!("tenant {} already exists with other details", t.id),
                    format!("kommunen {} finns redan med andra uppgifter", t.id),
                )));
            }
            if TenantState::parse(&row.state) != TenantState::Provisioning {
                return Ok(row); // already onboarded: idempotent
            }
            row
        }
        None => {
            let server = choose_server(catalog, dbs.backend(), t.server.as_deref()).await?;
            let now = Utc::now();
            let row = tenant::ActiveModel {
                id: Set(t.id.to_string()),
                display_name: Set(t.display_name.clone()),
                country: Set(t.country.as_str().into()),
                municipality_code: Set(t.municipality_code.clone()),
                population: Set(t.population),
                state: Set(TenantState::Provisioning.as_str().into()),
                named_in_comparisons: Set(t.named_in_comparisons),
                database_server: Set(server),
                database_name: Set(Backend::database_name(prefix, &t.id)?),
                created_at: Set(now),
                updated_at: Set(now),
            };
            match tenant::Entity::insert(row)
                .exec_with_returning(catalog.db())
                .await
            {
                Ok(r) => r,
                // A concurrent onboarding of the same id inserted first: continue with its row.
                Err(_) => catalog.require_tenant(&t.id).await?,
            }
        }
    };
    let placement = Placement {
        server: row.database_server.clone(),
        database: row.database_name.clone(),
    };
    provision_database(dbs.backend(), prefix, &placement).await?;
    let mut active = row.into_active_model();
    active.state = Set(TenantState::Active.as_str().into());
    active.updated_at = Set(Utc::now());
    let row = active.update(catalog.db()).await?;
    // A look-up while it was provisioning (or before it existed) may be cached.
    catalog.invalidate(Invalidation::Tenant(t.id.clone())).await;
    Ok(row)
}

/// How a tenant database was provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    /// Copied from the current template: no migrations ran.
    FromTemplate,
    /// Created empty (or found) and migrated, for the reason given.
    Migrated(Fallback),
}

/// Why onboarding did not use the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// There is no template (never built, being rebuilt, or SQLite).
    NoTemplate,
    /// The template's migrations are not this build's.
    Stale,
    /// Another session held the template open.
    Busy,
    /// The tenant database already existed (a retried onboarding).
    Existed,
}

static FROM_TEMPLATE: AtomicU64 = AtomicU64::new(0);
static MIGRATED: AtomicU64 = AtomicU64::new(0);

/// Tenant databases provisioned by this process so far: (from the
/// template, created and migrated).
pub fn provision_counts() -> (u64, u64) {
    (
        FROM_TEMPLATE.load(Ordering::Relaxed),
        MIGRATED.load(Ordering::Relaxed),
    )
}

/// Creates (if missing) and migrates one tenant database: a copy of the
/// server's template when that is current, else create and migrate.
pub async fn provision_database(
    backend: &Backend,
    prefix: &str,
    p: &Placement,
) -> Result<Provisioned, Error> {
    let template = Backend::template_name(prefix)?;
    let version = kompass_migration_tenant::schema_version();
    let fallback = match backend.create_from_template(p, &template, &version).await? {
        TemplateCopy::Copied => {
            FROM_TEMPLATE.fetch_add(1, Ordering::Relaxed);
            return Ok(Provisioned::FromTemplate);
        }
        TemplateCopy::Exists => Fallback::Existed,
        TemplateCopy::Missing => Fallback::NoTemplate,
        TemplateCopy::Stale => Fallback::Stale,
        TemplateCopy::Busy => Fallback::Busy,
    };
    // Embedded mode has no template by design: nothing to warn about.
    if matches!(backend, Backend::Postgres { .. }) && fallback != Fallback::Existed {
        let why = match fallback {
            Fallback::NoTemplate => {
                "there is no onboarding template on this server (run `kompass migrate`)"
            }
            Fallback::Stale => {
                "the onboarding template is another build's schema (run `kompass migrate`)"
            }
            _ => "the onboarding template stayed in use",
        };
        tracing::warn!(server = %p.server, template = %template, "{why}; creating and migrating");
    }
    backend.create_database(p).await?;
    migrate_database(backend, p).await?;
    MIGRATED.fetch_add(1, Ordering::Relaxed);
    Ok(Provisioned::Migrated(fallback))
}

/// Re-creates `server`'s onboarding template: a fresh database under a
/// side name, migrated, then swapped in for the old template and marked
/// `IS_TEMPLATE`, `ALLOW_CONNECTIONS false`, with this build's schema
/// version as its comment. Onboardings meanwhile copy the
/// old template or, in the moment of the swap, create and migrate.
/// Nothing in embedded (SQLite) mode.
pub async fn refresh_template(backend: &Backend, prefix: &str, server: &str) -> Result<(), Error> {
    if matches!(backend, Backend::Sqlite { .. }) {
        return Ok(());
    }
    let template = Backend::template_name(prefix)?;
    let built = Placement {
        server: server.to_string(),
        database: format!("{template}_next"),
    };
    backend.drop_template(server, &built.database).await?;
    backend.create_database(&built).await?;
    migrate_database(backend, &built).await?;
    backend
        .install_template(
            server,
            &built.database,
            &template,
            &kompass_migration_tenant::schema_version(),
        )
        .await?;
    tracing::info!(server, template = %template, "onboarding template refreshed");
    Ok(())
}

async fn connect_one(backend: &Backend, p: &Placement) -> Result<DatabaseConnection, Error> {
    backend
        .connect(p, 1, Duration::from_secs(5))
        .await
        .map_err(|e| {
            Error::Unavailable(Msg::new(
                format!("cannot connect to database {}: {e}", p.database),
                format!("kan inte ansluta till databasen {}: {e}", p.database),
            ))
        })
}

/// Brings one tenant database to the current schema of every service.
pub async fn migrate_database(backend: &Backend, p: &Placement) -> Result<(), Error> {
    let db = connect_one(backend, p).await?;
    let res = kompass_migration_tenant::migrate(&db).await;
    db.close().await.ok();
    res.map_err(|e| Error::internal(format!("migrating {}: {e}", p.database)))
}
