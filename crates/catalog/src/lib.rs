//! The catalog database. The tenancy service owns writes; the other services
//! read placement and memberships from it to route and authorise requests
//! (read-only, through the functions here).

pub mod cache;
pub mod entity;
pub mod identities;
pub mod relay;

use std::collections::BTreeMap;
use std::time::Duration;

use kompass_auth::TenantRole;
use kompass_core::{Error, Msg, TenantId, UserId};
use kompass_migration_catalog::Migrator;
use kompass_tenant_db::{Placement, TenantDb, TenantDbs};
use sea_orm::{
    ColumnTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait, QueryFilter,
};

pub use cache::{AccessCache, Invalidation};
pub use entity::tenant::Model as TenantRow;
pub use entity::user::Model as UserRow;
pub use identities::{NewInvitation, user_id_from_email};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantState {
    Provisioning,
    Active,
    Suspended,
}

impl TenantState {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Provisioning => "provisioning",
            TenantState::Active => "active",
            TenantState::Suspended => "suspended",
        }
    }
    pub fn parse(s: &str) -> TenantState {
        match s {
            "active" => TenantState::Active,
            "suspended" => TenantState::Suspended,
            _ => TenantState::Provisioning,
        }
    }
}

fn no_tenant(id: &TenantId) -> Error {
    Error::NotFound(Msg::new(
        format!("tenant {id} does not exist"),
        format!("kommunen {id} finns inte"),
    ))
}

/// Handle on the catalog database. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    db: DatabaseConnection,
    /// Grants, links, placement and assignments read on every request;
    /// `None`: read from the database every time.
    cache: Option<AccessCache>,
}

impl Catalog {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Catalog, Error> {
        let mut opt = ConnectOptions::new(url.to_string());
        opt.max_connections(pool_size.max(1))
            .min_connections(0)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = Database::connect(opt).await.map_err(|e| {
            Error::Unavailable(Msg::new(
                format!("catalog database is not reachable: {e}"),
                format!("katalogdatabasen går inte att nå: {e}"),
            ))
        })?;
        Ok(Catalog { db, cache: None })
    }

    pub fn from_connection(db: DatabaseConnection) -> Catalog {
        Catalog { db, cache: None }
    }

    /// Answers the per-request look-ups from `cache` (see [`cache`]).
    pub fn with_access_cache(mut self, cache: AccessCache) -> Catalog {
        self.cache = Some(cache);
        self
    }

    pub fn access_cache(&self) -> Option<&AccessCache> {
        self.cache.as_ref()
    }

    /// Tells the caches (this process's and, with Redis, the others') that
    /// `what` changed. Call after the change committed.
    pub async fn invalidate(&self, what: Invalidation) {
        if let Some(c) = &self.cache {
            c.invalidate(what).await;
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Migrates the catalog under an advisory lock.
    pub async fn migrate(url: &str) -> Result<(), Error> {
        let single = Catalog::connect(url, 1).await?;
        kompass_tenant_db::migrate_locked::<Migrator>(&single.db)
            .await
            .map_err(|e| Error::internal(format!("catalog migration failed: {e}")))?;
        single.db.close().await.ok();
        Ok(())
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRow>, Error> {
        Ok(entity::tenant::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?)
    }

    /// The tenant's row, or NOT_FOUND.
    pub async fn require_tenant(&self, id: &TenantId) -> Result<TenantRow, Error> {
        self.tenant(id).await?.ok_or_else(|| no_tenant(id))
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<UserRow>, Error> {
        Ok(entity::user::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?)
    }

    /// Whether any active user is an operator.
    pub async fn has_active_operator(&self) -> Result<bool, Error> {
        use entity::user;
        let candidates = user::Entity::find()
            .filter(user::Column::DeleteTime.is_null())
            .filter(user::Column::PlatformRoles.contains("operator"))
            .all(&self.db)
            .await?;
        Ok(candidates
            .iter()
            .any(|u| u.platform_roles.split(',').any(|r| r.trim() == "operator")))
    }

    /// Makes `id` an operator when the catalog has no active operator at all
    /// (a fresh deployment needs a first one). Returns whether it did; never
    /// re-grants while another operator exists, nor revives a deactivated user.
    pub async fn bootstrap_operator(&self, id: &UserId) -> Result<bool, Error> {
        use entity::user;
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
        if self.has_active_operator().await? {
            return Ok(false);
        }
        match self.user(id).await? {
            Some(u) if u.delete_time.is_some() => {
                tracing::warn!(user = %id, "bootstrap operator is deactivated; not granting");
                Ok(false)
            }
            Some(u) => {
                let mut roles: Vec<&str> = u
                    .platform_roles
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .collect();
                roles.push("operator");
                let joined = roles.join(",");
                let mut m = u.clone().into_active_model();
                m.platform_roles = Set(joined);
                m.update(&self.db).await?;
                self.invalidate(Invalidation::User(id.clone())).await;
                Ok(true)
            }
            None => {
                let res = user::Entity::insert(user::ActiveModel {
                    id: Set(id.to_string()),
                    email: Set(format!("{id}@bootstrap.invalid")),
                    display_name: Set(id.to_string()),
                    platform_roles: Set("operator".into()),
                    language: Set("sv".into()),
                    created_at: Set(chrono::Utc::now()),
                    delete_time: Set(None),
                })
                .exec(&self.db)
                .await;
                match res {
                    Ok(_) => {
                        self.invalidate(Invalidation::User(id.clone())).await;
                        Ok(true)
                    }
                    // Another replica bootstrapped at the same moment.
                    Err(_) if self.user(id).await?.is_some() => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    pub async fn memberships_of(
        &self,
        user: &UserId,
    ) -> Result<BTreeMap<TenantId, TenantRole>, Error> {
        let rows = entity::membership::Entity::find()
            .filter(entity::membership::Column::UserId.eq(user.as_str()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                Some((
                    TenantId::parse(&m.tenant_id).ok()?,
                    TenantRole::parse(&m.role)?,
                ))
            })
            .collect())
    }

    /// Where an active tenant's database lives. NOT_FOUND for an unknown tenant,
    /// FAILED_PRECONDITION while provisioning or suspended.
    pub async fn placement(&self, id: &TenantId) -> Result<Placement, Error> {
        let t = match &self.cache {
            Some(c) => c.tenant(id, self.tenant(id)).await?,
            None => self.tenant(id).await?,
        }
        .ok_or_else(|| no_tenant(id))?;
        match TenantState::parse(&t.state) {
            TenantState::Active => Ok(Placement {
                server: t.database_server,
                database: t.database_name,
            }),
            TenantState::Suspended => Err(Error::FailedPrecondition(Msg::new(
                format!("tenant {id} is suspended"),
                format!("kommunen {id} är avstängd"),
            ))),
            TenantState::Provisioning => Err(Error::FailedPrecondition(Msg::new(
                format!("tenant {id} is still being onboarded; retry CreateTenant to finish it"),
                format!(
                    "kommunen {id} håller fortfarande på att läggas upp; upprepa CreateTenant för att slutföra"
                ),
            ))),
        }
    }
}

/// What a service needs to reach a tenant's database on each request.
#[derive(Clone)]
pub struct TenantDirectory {
    pub catalog: Catalog,
    pub dbs: TenantDbs,
}

impl TenantDirectory {
    /// A connection to an active tenant's database, and records the tenant on
    /// the current request span.
    pub async fn db(&self, tenant: &TenantId) -> Result<TenantDb, Error> {
        tracing::Span::current().record("tenant", tenant.as_str());
        let placement = self.catalog.placement(tenant).await?;
        self.dbs.get(tenant, &placement).await
    }
}

#[async_trait::async_trait]
impl kompass_auth::GrantSource for Catalog {
    async fn grants(&self, user: &UserId) -> Result<Option<kompass_auth::Grants>, Error> {
        match &self.cache {
            Some(c) => c.grants(user, self.grants_uncached(user)).await,
            None => self.grants_uncached(user).await,
        }
    }
}

impl Catalog {
    async fn grants_uncached(&self, user: &UserId) -> Result<Option<kompass_auth::Grants>, Error> {
        let Some(row) = self.user(user).await? else {
            return Ok(None);
        };
        Ok(Some(kompass_auth::Grants {
            platform_roles: row
                .platform_roles
                .split(',')
                .filter_map(|r| kompass_auth::PlatformRole::parse(r.trim()))
                .collect(),
            memberships: self.memberships_of(user).await?,
            active: row.delete_time.is_none(),
        }))
    }
}
