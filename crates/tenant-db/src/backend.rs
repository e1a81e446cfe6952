use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kompass_core::{Error, Msg, TenantId};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use url::Url;

/// Where one tenant's database lives, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    /// Name of a configured database server (`primary`, …).
    pub server: String,
    /// Database name on that server (a file stem in embedded mode).
    pub database: String,
}

/// One small pool per server on its own database, for CREATE/DROP DATABASE,
/// kept between onboardings: a new connection (TLS included) costs more
/// than the CREATE DATABASE it is opened for.
#[derive(Clone, Default)]
pub struct AdminPools(Arc<Mutex<HashMap<String, DatabaseConnection>>>);

impl std::fmt::Debug for AdminPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminPools")
    }
}

/// What [`Backend::create_from_template`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateCopy {
    /// The database was created as a copy of the template.
    Copied,
    /// The database already existed (a retried or concurrent onboarding).
    Exists,
    /// There is no template (never built, being rebuilt, or embedded mode).
    Missing,
    /// The template was built by another build's migrations (its recorded
    /// schema version differs): not copied.
    Stale,
    /// The template stayed in use by another session.
    Busy,
}

/// The database servers tenant databases are placed on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Named PostgreSQL servers; the URL's path is replaced by the database name.
    Postgres {
        servers: BTreeMap<String, Url>,
        admins: AdminPools,
    },
    /// Embedded mode: one SQLite file per tenant in `dir`.
    Sqlite { dir: PathBuf },
}

fn bad_prefix(prefix: &str) -> Error {
    Error::internal(format!(
        "tenant database prefix {prefix:?} must match ^[a-z][a-z0-9_]{{0,20}}$"
    ))
}

impl Backend {
    pub fn postgres(servers: &BTreeMap<String, String>) -> Result<Backend, Error> {
        let mut parsed = BTreeMap::new();
        for (name, url) in servers {
            let u = Url::parse(url).map_err(|e| {
                Error::internal(format!("database server {name}: URL is not valid: {e}"))
            })?;
            parsed.insert(name.clone(), u);
        }
        Ok(Backend::Postgres {
            servers: parsed,
            admins: AdminPools::default(),
        })
    }

    pub fn server_names(&self) -> Vec<String> {
        match self {
            Backend::Postgres { servers, .. } => servers.keys().cloned().collect(),
            Backend::Sqlite { .. } => vec!["embedded".into()],
        }
    }

    /// `{prefix}{tenant}` with `-` as `_`: a plain identifier that never needs
    /// quoting tricks. Tenant ids have no `_`, so the mapping cannot collide.
    pub fn database_name(prefix: &str, tenant: &TenantId) -> Result<String, Error> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 21
            && prefix.as_bytes()[0].is_ascii_lowercase()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(bad_prefix(prefix));
        }
        Ok(format!("{prefix}{}", tenant.as_str().replace('-', "_")))
    }

    fn server_url(&self, server: &str) -> Result<&Url, Error> {
        match self {
            Backend::Postgres { servers, .. } => servers.get(server).ok_or_else(|| {
                Error::internal(format!("database server {server:?} is not configured"))
            }),
            Backend::Sqlite { .. } => Err(Error::internal("no servers in embedded mode")),
        }
    }

    /// The connection URL of a tenant database.
    pub fn url(&self, p: &Placement) -> Result<String, Error> {
        check_db_name(&p.database)?;
        match self {
            Backend::Postgres { .. } => {
                let mut u = self.server_url(&p.server)?.clone();
                u.set_path(&format!("/{}", p.database));
                u.query_pairs_mut()
                    .append_pair("application_name", "kompass");
                Ok(u.to_string())
            }
            Backend::Sqlite { dir } => Ok(format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{}.db", p.database)).display()
            )),
        }
    }

    /// Opens a pool on a tenant database.
    pub async fn connect(
        &self,
        p: &Placement,
        max: u32,
        idle: Duration,
    ) -> Result<DatabaseConnection, DbErr> {
        let url = self.url(p).map_err(|e| DbErr::Custom(e.to_string()))?;
        let mut opt = ConnectOptions::new(url);
        let max = if matches!(self, Backend::Sqlite { .. }) {
            1 // one writer: avoids SQLITE_BUSY between our own connections
        } else {
            max
        };
        opt.max_connections(max)
            .min_connections(0)
            .idle_timeout(idle)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        Database::connect(opt).await
    }

    /// Creates a tenant database if it does not exist. Safe to repeat and to race.
    pub async fn create_database(&self, p: &Placement) -> Result<(), Error> {
        check_db_name(&p.database)?;
        match self {
            Backend::Sqlite { dir } => {
                std::fs::create_dir_all(dir).map_err(Error::internal)?;
                let db = self
                    .connect(p, 1, Duration::from_secs(1))
                    .await
                    .map_err(Error::from)?;
                db.close().await.ok();
                Ok(())
            }
            Backend::Postgres { .. } => {
                let admin = self.admin(&p.server).await?;
                let res = async {
                    let exists = admin
                        .query_one_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            "SELECT 1 FROM pg_database WHERE datname = $1",
                            [p.database.clone().into()],
                        ))
                        .await?
                        .is_some();
                    if !exists {
                        // Identifier validated by check_db_name; CREATE DATABASE takes no parameters.
                        let sql = format!("CREATE DATABASE \"{}\"", p.database);
                        if let Err(e) = admin.execute_unprepared(&sql).await {
                            // 42P04: a concurrent onboarding created it first.
                            if !e.to_string().contains("already exists") {
                                return Err(e);
                            }
                        }
                    }
                    Ok::<_, DbErr>(())
                }
                .await;
                res.map_err(|e| {
                    Error::Unavailable(Msg::new(
                        format!("cannot create database {}: {e}", p.database),
                        format!("kan inte skapa databasen {}: {e}", p.database),
                    ))
                })
            }
        }
    }

    /// The onboarding template's database name for `prefix`: `{prefix}_template`.
    /// Tenant database names are `{prefix}` followed by a tenant id, which
    /// starts with a letter, so no tenant database can have this name.
    pub fn template_name(prefix: &str) -> Result<String, Error> {
        // Validates the prefix with the same rule as tenant database names.
        Backend::database_name(prefix, &TenantId::parse("aa")?)?;
        let name = format!("{prefix}_template");
        check_db_name(&name)?;
        Ok(name)
    }

    /// Creates `p`'s database as a copy of `template` (`CREATE DATABASE …
    /// TEMPLATE`) if the template records schema `version` (see
    /// [`Backend::install_template`]); read from the server's catalog, so
    /// the check opens no connection to the template. Retries while another
    /// session is connected to the template (PostgreSQL refuses the copy
    /// then), for up to ~2 s.
    pub async fn create_from_template(
        &self,
        p: &Placement,
        template: &str,
        version: &str,
    ) -> Result<TemplateCopy, Error> {
        check_db_name(&p.database)?;
        check_db_name(template)?;
        if matches!(self, Backend::Sqlite { .. }) {
            return Ok(TemplateCopy::Missing); // no templates in embedded mode
        }
        let admin = self.admin(&p.server).await?;
        let unavailable = |e: DbErr| {
            Error::Unavailable(Msg::new(
                format!("cannot create database {}: {e}", p.database),
                format!("kan inte skapa databasen {}: {e}", p.database),
            ))
        };
        let rows = admin
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT datname, shobj_description(oid, 'pg_database') \
                 FROM pg_database WHERE datname IN ($1, $2)",
                [p.database.clone().into(), template.to_string().into()],
            ))
            .await
            .map_err(unavailable)?;
        let mut template_version = None;
        for r in &rows {
            let name: String = r.try_get_by_index(0).map_err(Error::from)?;
            if name == p.database {
                return Ok(TemplateCopy::Exists);
            }
            template_version = Some(
                r.try_get_by_index::<Option<String>>(1)
                    .map_err(Error::from)?,
            );
        }
        match template_version {
            None => return Ok(TemplateCopy::Missing),
            Some(v) if v.as_deref() != Some(version) => return Ok(TemplateCopy::Stale),
            Some(_) => {}
        }
        // Both identifiers validated by check_db_name; CREATE DATABASE takes no parameters.
        let sql = format!("CREATE DATABASE \"{}\" TEMPLATE \"{template}\"", p.database);
        match retry_busy(&admin, &sql).await {
            Ok(()) => Ok(TemplateCopy::Copied),
            Err(e) if is_busy(&e) => Ok(TemplateCopy::Busy),
            Err(e) => {
                let m = e.to_string();
                if m.contains("already exists") {
                    Ok(TemplateCopy::Exists) // a concurrent onboarding of this tenant
                } else if m.contains("does not exist") {
                    Ok(TemplateCopy::Missing) // dropped meanwhile (`kompass migrate`)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    /// Drops a template database (`IS_TEMPLATE` cleared first, as PostgreSQL requires).
    pub async fn drop_template(&self, server: &str, name: &str) -> Result<(), Error> {
        check_db_name(name)?;
        if matches!(self, Backend::Sqlite { .. }) {
            return Ok(());
        }
        let admin = self.admin(server).await?;
        let exists = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.to_string().into()],
            ))
            .await?
            .is_some();
        if exists {
            admin
                .execute_unprepared(&format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE false"))
                .await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }

    /// Replaces the template `name` by the freshly migrated database `built`:
    /// drops the old one, renames `built` to `name`, marks it a template
    /// that accepts no connections (so nothing can hold it open and block
    /// the copies onboarding makes) and records the schema `version` it was
    /// migrated to as the database's comment.
    pub async fn install_template(
        &self,
        server: &str,
        built: &str,
        name: &str,
        version: &str,
    ) -> Result<(), Error> {
        check_db_name(built)?;
        check_db_name(name)?;
        // It goes into SQL as a literal: letters, digits and '-' only.
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::internal(format!("bad schema version {version:?}")));
        }
        if matches!(self, Backend::Sqlite { .. }) {
            return Ok(());
        }
        self.drop_template(server, name).await?;
        let admin = self.admin(server).await?;
        // `built`'s migration connection may still be closing on the server side.
        retry_busy(
            &admin,
            &format!("ALTER DATABASE \"{built}\" RENAME TO \"{name}\""),
        )
        .await?;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            ))
            .await?;
        admin
            .execute_unprepared(&format!("COMMENT ON DATABASE \"{name}\" IS '{version}'"))
            .await?;
        Ok(())
    }

    /// Drops a tenant database (tests and the benchmark clean up with this).
    pub async fn drop_database(&self, p: &Placement) -> Result<(), Error> {
        check_db_name(&p.database)?;
        match self {
            Backend::Sqlite { dir } => {
                let _ = std::fs::remove_file(dir.join(format!("{}.db", p.database)));
                Ok(())
            }
            Backend::Postgres { .. } => {
                let admin = self.admin(&p.server).await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", p.database);
                let r = admin.execute_unprepared(&sql).await;
                r.map(|_| ()).map_err(Error::from)
            }
        }
    }

    /// The server's admin pool (one connection, closed after a minute
    /// unused), for CREATE/DROP DATABASE.
    async fn admin(&self, server: &str) -> Result<DatabaseConnection, Error> {
        let url = self.server_url(server)?.to_string();
        let Backend::Postgres { admins, .. } = self else {
            return Err(Error::internal("no servers in embedded mode"));
        };
        if let Some(db) = admins.0.lock().expect("admin pools").get(server) {
            return Ok(db.clone());
        }
        let mut opt = ConnectOptions::new(url);
        opt.max_connections(1)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let db = Database::connect(opt).await.map_err(|e| {
            Error::Unavailable(Msg::new(
                format!("database server {server} is not reachable: {e}"),
                format!("databasservern {server} går inte att nå: {e}"),
            ))
        })?;
        // A concurrent first call may have inserted one meanwhile; keep that.
        Ok(admins
            .0
            .lock()
            .expect("admin pools")
            .entry(server.to_string())
            .or_insert(db)
            .clone())
    }
}

/// Runs `sql`, retrying for ~2 s while another session is still connected
/// to the database it names.
async fn retry_busy(admin: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    let mut wait = Duration::from_millis(10);
    let mut left = 12;
    loop {
        match admin.execute_unprepared(sql).await {
            Ok(_) => return Ok(()),
            Err(e) if left > 0 && is_busy(&e) => {
                left -= 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(400));
            }
            Err(e) => return Err(e),
        }
    }
}

/// PostgreSQL refused because another session is connected to the database.
fn is_busy(e: &DbErr) -> bool {
    e.to_string().contains("being accessed by other users")
}

fn check_db_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "refusing database name {name:?}: not a plain identifier"
        )))
    }
}

/// Starts a transaction that will write. On SQLite it begins `IMMEDIATE`:
/// a deferred transaction that reads first and writes later fails at once
/// with "database is locked" when another connection wrote in between (the
/// busy timeout does not cover that upgrade), while `BEGIN IMMEDIATE` waits
/// for the write lock up front. PostgreSQL gets a plain `BEGIN`.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Runs `M`'s pending migrations on `db` holding a PostgreSQL advisory lock,
/// so two replicas or two `kompass migrate` runs never migrate one database
/// at once. `db` must be a single-connection pool so the lock, the
/// migrations and the unlock share one session.
pub async fn migrate_locked<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return M::up(db, None).await;
    }
    let key = lock_key(&M::migration_table_name().to_string());
    db.execute_unprepared(&format!("SELECT pg_advisory_lock({key})"))
        .await?;
    let res = M::up(db, None).await;
    db.execute_unprepared(&format!("SELECT pg_advisory_unlock({key})"))
        .await?;
    res
}

/// A stable 63-bit key per migration table (FNV-1a: std's hasher is seeded).
fn lock_key(s: &str) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        let t = TenantId::parse("ostra-kommun").unwrap();
        assert_eq!(
            Backend::database_name("kompass_t_", &t).unwrap(),
            "kompass_t_ostra_kommun"
        );
        assert!(Backend::database_name("Bad\"", &t).is_err());
        let b = Backend::postgres(&BTreeMap::from([(
            "primary".to_string(),
            "postgres://u:p@db:5432/kompass".to_string(),
        )]))
        .unwrap();
        let url = b
            .url(&Placement {
                server: "primary".into(),
                database: "kompass_t_ostra".into(),
            })
            .unwrap();
        assert_eq!(
            url,
            "postgres://u:p@db:5432/kompass_t_ostra?application_name=kompass"
        );
        assert!(
            b.url(&Placement {
                server: "primary".into(),
                database: "x\"; drop".into()
            })
            .is_err()
        );
    }

    /// Several connections to one SQLite file (the embedded catalog has a
    /// pool of five), each reading and then writing in a transaction at the
    /// same time: every one commits, none fails with "database is locked".
    #[tokio::test]
    async fn concurrent_read_then_write_transactions_on_sqlite_all_commit() {
        let dir = std::env::temp_dir().join(format!("kompass-begin-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut opt =
            ConnectOptions::new(format!("sqlite://{}?mode=rwc", dir.join("t.db").display()));
        opt.max_connections(5).sqlx_logging(false);
        let db = Database::connect(opt).await.unwrap();
        db.execute_unprepared("CREATE TABLE n (i INTEGER NOT NULL)")
            .await
            .unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let tx = begin_write(&db).await?;
                    let row = tx
                        .query_one_raw(Statement::from_string(
                            DbBackend::Sqlite,
                            "SELECT COUNT(*) AS c FROM n",
                        ))
                        .await?
                        .unwrap();
                    let c: i64 = row.try_get("", "c")?;
                    tokio::task::yield_now().await;
                    tx.execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "INSERT INTO n (i) VALUES (?)",
                        [c.into()],
                    ))
                    .await?;
                    tx.commit().await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(DISTINCT i) AS c FROM n",
            ))
            .await
            .unwrap()
            .unwrap();
        // Serialised writers: each saw the count its predecessors left.
        assert_eq!(row.try_get::<i64>("", "c").unwrap(), 16);
        std::fs::remove_dir_all(&dir).ok();
    }
}
