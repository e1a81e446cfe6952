//! Server-side session stores, so a console restart signs nobody out: Redis
//! (when `KOMPASS_REDIS_URL` is set) or the `console_sessions` table of the
//! catalog database (PostgreSQL or SQLite). The cookie carries only the id.

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use time::OffsetDateTime;
use tower_sessions::MemoryStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_chrono(t: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

/// Sessions in Redis under `{prefix}session:{id}`, expiring with the session.
#[derive(Clone)]
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisStore, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(RedisStore {
            conn,
            prefix: key_prefix.to_string(),
        })
    }

    fn key(&self, id: &Id) -> String {
        format!("{}session:{id}", self.prefix)
    }

    async fn write(&self, r: &Record, only_new: bool) -> session_store::Result<bool> {
        let body = serde_json::to_string(r).map_err(backend)?;
        let mut opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::EXAT(
            r.expiry_date.unix_timestamp().max(1) as u64,
        ));
        if only_new {
            opts = opts.conditional_set(redis::ExistenceCheck::NX);
        }
        let mut c = self.conn.clone();
        let done: Option<String> = c
            .set_options(self.key(&r.id), body, opts)
            .await
            .map_err(backend)?;
        Ok(done.is_some())
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        // A fresh id until it is unused: never overwrite someone's session.
        while !self.write(r, true).await? {
            r.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, r: &Record) -> session_store::Result<()> {
        self.write(r, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut c = self.conn.clone();
        let body: Option<String> = c.get(self.key(id)).await.map_err(backend)?;
        let Some(body) = body else { return Ok(None) };
        let r: Record = serde_json::from_str(&body).map_err(backend)?;
        Ok((r.expiry_date > OffsetDateTime::now_utc()).then_some(r))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.key(id)).await.map_err(backend)?;
        Ok(())
    }
}

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "console_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The session record as JSON.
        pub data: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Sessions in the catalog database's `console_sessions` table
/// (migration in `migrations/catalog`); expired rows are skipped on load and
/// purged by [`ExpiredDeletion::delete_expired`].
#[derive(Clone, Debug)]
pub struct DbStore {
    db: DatabaseConnection,
}

impl DbStore {
    pub fn new(db: DatabaseConnection) -> DbStore {
        DbStore { db }
    }

    fn row(r: &Record) -> session_store::Result<entity::ActiveModel> {
        Ok(entity::ActiveModel {
            id: Set(r.id.to_string()),
            data: Set(serde_json::to_string(r).map_err(backend)?),
            expires_at: Set(to_chrono(r.expiry_date)),
        })
    }
}

#[async_trait::async_trait]
impl SessionStore for DbStore {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        loop {
            let taken = entity::Entity::find_by_id(r.id.to_string())
                .one(&self.db)
                .await
                .map_err(backend)?
                .is_some();
            if !taken {
                break;
            }
            r.id = Id::default();
        }
        // A primary-key clash between the check and the insert fails the
        // request rather than overwriting another session.
        entity::Entity::insert(Self::row(r)?)
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn save(&self, r: &Record) -> session_store::Result<()> {
        entity::Entity::insert(Self::row(r)?)
            .on_conflict(
                OnConflict::column(entity::Column::Id)
                    .update_columns([entity::Column::Data, entity::Column::ExpiresAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = entity::Entity::find_by_id(id.to_string())
            .filter(entity::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        row.map(|r| serde_json::from_str(&r.data).map_err(backend))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        entity::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for DbStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let res = entity::Entity::delete_many()
            .filter(entity::Column::ExpiresAt.lte(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if res.rows_affected > 0 {
            tracing::debug!(purged = res.rows_affected, "expired console sessions");
        }
        Ok(())
    }
}

/// The store configuration chose; one concrete type for the session layer.
#[derive(Clone, Debug)]
pub enum Store {
    /// Lost on restart: tests and `kompass dev` without a data directory.
    Memory(MemoryStore),
    Redis(RedisStore),
    Db(DbStore),
}

impl Store {
    /// Purges expired database sessions every `period` (Redis expires its own).
    pub fn spawn_purge(&self, period: std::time::Duration) -> Option<tokio::task::JoinHandle<()>> {
        let Store::Db(s) = self else { return None };
        let s = s.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                if let Err(e) = s.delete_expired().await {
                    tracing::warn!(error = %e, "purging expired sessions failed");
                }
            }
        }))
    }
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Memory(s) => s.create(r).await,
            Store::Redis(s) => s.create(r).await,
            Store::Db(s) => s.create(r).await,
        }
    }
    async fn save(&self, r: &Record) -> session_store::Result<()> {
        match self {
            Store::Memory(s) => s.save(r).await,
            Store::Redis(s) => s.save(r).await,
            Store::Db(s) => s.save(r).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Memory(s) => s.load(id).await,
            Store::Redis(s) => s.load(id).await,
            Store::Db(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Memory(s) => s.delete(id).await,
            Store::Redis(s) => s.delete(id).await,
            Store::Db(s) => s.delete(id).await,
        }
    }
}

impl Store {
    /// The store `cfg.sessions.store` names; `catalog` is the catalog
    /// database (needed for `database`, and for `auto` without Redis).
    pub async fn from_config(
        cfg: &kompass_config::Config,
        catalog: Option<DatabaseConnection>,
    ) -> Result<Store, String> {
        use kompass_config::SessionStoreKind as K;
        let redis = |url: &str| {
            let url = url.to_string();
            let prefix = cfg.redis.key_prefix.clone();
            async move {
                RedisStore::connect(&url, &prefix)
                    .await
                    .map(Store::Redis)
                    .map_err(|e| format!("session store: Redis is not reachable: {e}"))
            }
        };
        match (cfg.sessions.store, &cfg.redis.url, catalog) {
            (K::Memory, _, _) => Ok(Store::Memory(MemoryStore::default())),
            (K::Redis | K::Auto, Some(url), _) => redis(url).await,
            (K::Redis, None, _) => {
                Err("KOMPASS_SESSION_STORE=redis needs KOMPASS_REDIS_URL".into())
            }
            (K::Database | K::Auto, _, Some(db)) => Ok(Store::Db(DbStore::new(db))),
            (K::Database | K::Auto, _, None) => {
                Err("session store: no catalog database to keep sessions in".into())
            }
        }
    }
}
