//! Onboarding a tenant: catalog row (provisioning) → database → migrations →
//! active. Every step is safe to repeat, so a retry after a failure midway
//! completes the tenant; until then the tenant serves no requests.

use std::time::Duration;

use chrono::Utc;
use kompass_catalog::{Catalog, Invalidation, TenantRow, TenantState, entity::tenant};
use kompass_core::{Error, Msg};
use kompass_tenant_db::{Backend, Placement, TenantDbs};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter,
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
    provision_database(dbs.backend(), &placement).await?;
    let mut active = row.into_active_model();
    active.state = Set(TenantState::Active.as_str().into());
    active.updated_at = Set(Utc::now());
    let row = active.update(catalog.db()).await?;
    // A look-up while it was provisioning (or before it existed) may be cached.
    catalog.invalidate(Invalidation::Tenant(t.id.clone())).await;
    Ok(row)
}

/// Creates (if missing) and migrates one tenant database.
pub async fn provision_database(backend: &Backend, p: &Placement) -> Result<(), Error> {
    backend.create_database(p).await?;
    migrate_database(backend, p).await
}

/// Brings one tenant database to the current schema of every service.
pub async fn migrate_database(backend: &Backend, p: &Placement) -> Result<(), Error> {
    let db = backend
        .connect(p, 1, Duration::from_secs(5))
        .await
        .map_err(|e| {
            Error::Unavailable(Msg::new(
                format!("cannot connect to database {}: {e}", p.database),
                format!("kan inte ansluta till databasen {}: {e}", p.database),
            ))
        })?;
    let res = kompass_migration_tenant::migrate(&db).await;
    db.close().await.ok();
    res.map_err(|e| Error::internal(format!("migrating {}: {e}", p.database)))
}
