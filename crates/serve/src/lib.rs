//! From a [`Config`] to running services. `kompass serve <svc>` starts one,
//! `kompass dev` and the integration tests start all four in one process.

mod migrate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kompass_auth::Verifier;
use kompass_catalog::{AccessCache, Catalog, TenantDirectory};
use kompass_config::{Config, ServiceKind};
use kompass_grpc::Authenticator;
use kompass_tenant_db::{Backend, TenantDbs, TenantDbsConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use migrate::{MigrationReport, migrate_all, migrate_analytics, migrate_platform};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Core(#[from] kompass_core::Error),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("server {0} stopped: {1}")]
    Transport(&'static str, tonic::transport::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("event bus: {0}")]
    Events(#[from] kompass_events::EventError),
}

/// Everything the services share in one process.
#[derive(Clone)]
pub struct Platform {
    pub cfg: Config,
    pub catalog: Catalog,
    pub dbs: TenantDbs,
    pub auth: Arc<Authenticator>,
    /// The HS256 secret tokens are checked with, if any (dev and tests mint with it).
    pub jwt_secret: Option<String>,
    /// Redis streams, or the in-process stand-in when no Redis is configured.
    pub bus: kompass_events::Bus,
    /// Started on first use, so only the process serving assessment relays.
    assessment: Arc<std::sync::OnceLock<kompass_assessment::Assessment>>,
    /// The reporting service's state (its read-model consumer starts with the service).
    reporting: Arc<std::sync::OnceLock<kompass_reporting::Reporting>>,
    /// The analytics database when configured apart from the catalog.
    analytics: Option<sea_orm::DatabaseConnection>,
}

/// `url` with `key=value` appended, unless it already has a parameter for
/// which `present` holds: an explicit URL setting wins.
fn with_param(
    url: &str,
    present: impl Fn(&str) -> bool,
    key: &str,
    value: &str,
) -> Result<String, ServeError> {
    let mut u = url::Url::parse(url)
        .map_err(|e| ServeError::Config(format!("database URL is not valid: {e}")))?;
    if !u.query_pairs().any(|(k, _)| present(&k)) {
        u.query_pairs_mut().append_pair(key, value);
    }
    Ok(u.to_string())
}

/// `url` with the configured `sslmode` (`KOMPASS_DB_SSLMODE`) unless it
/// names one itself: an explicit URL setting wins.
pub fn with_ssl_mode(url: &str, cfg: &Config) -> Result<String, ServeError> {
    let Some(mode) = cfg.database.ssl_mode.as_deref() else {
        return Ok(url.to_string());
    };
    if !kompass_config::SSL_MODES.contains(&mode) {
        return Err(ServeError::Config(format!(
            "database.ssl_mode {mode:?}: expected one of {}",
            kompass_config::SSL_MODES.join(", ")
        )));
    }
    with_param(url, |k| k == "sslmode", "sslmode", mode)
}

/// `url` as the services connect with it: [`with_ssl_mode`], and every
/// statement under the configured `statement_timeout`, so one runaway query
/// cannot hold a connection (and the tenant's pool) for ever. A URL that sets
/// `options` itself keeps them.
pub fn pg_url(url: &str, cfg: &Config) -> Result<String, ServeError> {
    let url = with_ssl_mode(url, cfg)?;
    match cfg.database.statement_timeout_ms {
        0 => Ok(url),
        ms => with_param(
            &url,
            |k| k.starts_with("options"),
            "options[statement_timeout]",
            &format!("{ms}ms"),
        ),
    }
}

/// The catalog URL and tenant backend the configuration asks for.
pub fn storage(cfg: &Config) -> Result<(String, Backend), ServeError> {
    match &cfg.database.url {
        Some(url) => {
            let url = pg_url(url, cfg)?;
            let mut servers = BTreeMap::from([("primary".to_string(), url.clone())]);
            for (name, u) in &cfg.database.servers {
                servers.insert(name.clone(), pg_url(u, cfg)?);
            }
            Ok((url, Backend::postgres(&servers)?))
        }
        None => {
            let dir = &cfg.database.data_dir;
            std::fs::create_dir_all(dir.join("tenants"))
                .map_err(|e| ServeError::Io(format!("creating {}", dir.display()), e))?;
            Ok((
                format!("sqlite://{}?mode=rwc", dir.join("catalog.db").display()),
                Backend::Sqlite {
                    dir: dir.join("tenants"),
                },
            ))
        }
    }
}

/// Refuses settings that would make tokens forgeable: outside embedded mode
/// an HS256 secret must have at least 32 bytes.
pub fn check_auth(cfg: &Config) -> Result<(), ServeError> {
    if let Some(s) = &cfg.auth.jwt_secret
        && !cfg.is_embedded()
        && cfg.auth.jwks_url.is_none()
        && s.len() < kompass_auth::MIN_HS256_SECRET_BYTES
    {
        return Err(ServeError::Config(format!(
            "KOMPASS_JWT_SECRET has {} bytes; HS256 needs at least {} (e.g. `openssl rand -hex 32`)",
            s.len(),
            kompass_auth::MIN_HS256_SECRET_BYTES
        )));
    }
    Ok(())
}

/// The dev secret lives in the data dir so tokens printed by `kompass dev`
/// stay valid across restarts.
pub fn dev_secret(data_dir: &PathBuf) -> Result<String, ServeError> {
    let path = data_dir.join("dev-jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        // Files written by older versions were world-readable.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| ServeError::Io(format!("securing {}", path.display()), e))?;
        }
        return Ok(s.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ServeError::Io(format!("creating {}", data_dir.display()), e))?;
    let secret: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..48)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
            .collect()
    };
    write_private(&path, secret.as_bytes())
        .map_err(|e| ServeError::Io(format!("writing {}", path.display()), e))?;
    Ok(secret)
}

/// Writes a file only its owner can read (mode 0600 from creation, so the
/// secret is never readable by others, not even briefly).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(bytes)
}

impl Platform {
    /// Connects the catalog (migrating it in embedded mode, where nobody else
    /// will) and sets up the tenant registry and auth.
    pub async fn open(cfg: Config) -> Result<Platform, ServeError> {
        check_auth(&cfg)?;
        let (catalog_url, backend) = storage(&cfg)?;
        if cfg.is_embedded() {
            migrate_platform(&catalog_url).await?;
        }
        let catalog = Catalog::connect(&catalog_url, cfg.database.catalog_pool_size).await?;
        let catalog = match access_cache(&cfg).await? {
            Some(c) => catalog.with_access_cache(c),
            None => catalog,
        };
        let analytics = match (&cfg.database.analytics_url, cfg.is_embedded()) {
            (Some(url), false) => Some(
                migrate::connect_analytics(&pg_url(url, &cfg)?, cfg.database.catalog_pool_size)
                    .await?,
            ),
            _ => None,
        };
        let dbs = TenantDbs::new(
            backend,
            TenantDbsConfig {
                max_connections: cfg.database.max_connections,
                pool_size: cfg.database.pool_size,
                idle_timeout: Duration::from_secs(cfg.database.idle_timeout_secs),
                acquire_timeout: Duration::from_secs(10),
                not_tenants: vec![Backend::template_name(&cfg.database.tenant_db_prefix)?],
            },
        );
        let jwt_secret = match (&cfg.auth.jwt_secret, cfg.is_embedded()) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => Some(dev_secret(&cfg.database.data_dir)?),
            _ => None,
        };
        let verifier = match (&cfg.auth.jwks_url, &jwt_secret) {
            (Some(url), secret) => {
                let v = Verifier::jwks_with_ttl(
                    url,
                    &cfg.auth.issuer,
                    &cfg.auth.audience,
                    Duration::from_secs(cfg.auth.jwks_ttl_secs),
                );
                // `kompass dev` behind a provider: the demo's own tokens stay
                // valid. Outside the embedded mode only the provider's are.
                match secret {
                    Some(s) if cfg.is_embedded() => Some(v.with_development_tokens(s)),
                    _ => Some(v),
                }
            }
            (None, Some(s)) => Some(Verifier::hs256(s, &cfg.auth.issuer, &cfg.auth.audience)),
            (None, None) => {
                tracing::warn!(
                    "no KOMPASS_JWT_SECRET or KOMPASS_JWKS_URL: every token will be rejected"
                );
                None
            }
        };
        if let Some(who) = cfg.auth.bootstrap_operator.as_deref() {
            // An e-mail address: behind an OpenID provider, invited and
            // linked at their first sign-in.
            let made = if who.contains('@') {
                catalog.bootstrap_operator_by_email(who).await?
            } else {
                catalog
                    .bootstrap_operator(&kompass_core::UserId::parse(who)?)
                    .await?
            };
            if made {
                tracing::info!(user = %who, "no operator in the catalog: made (or invited) the bootstrap operator");
            }
        }
        let auth = Arc::new(
            Authenticator::new(verifier, Arc::new(catalog.clone()))
                .with_identity_links(Arc::new(catalog.clone()))
                .allow_anonymous(kompass_assessment::ANONYMOUS)
                .allow_anonymous(kompass_reporting::ANONYMOUS),
        );
        let claim = kompass_events::ClaimPolicy {
            idle: Duration::from_millis(cfg.events.claim_idle_ms),
            forget_consumer_after: Duration::from_secs(cfg.events.forget_consumer_after_secs),
        };
        let bus: kompass_events::Bus = match &cfg.redis.url {
            Some(url) => Arc::new(
                kompass_events::RedisBus::connect(url, &cfg.redis.key_prefix)
                    .await?
                    .with_claim_policy(claim),
            ),
            None => Arc::new(kompass_events::MemoryBus::new().with_claim_policy(claim)),
        };
        kompass_catalog::relay::set_outbox_retention(Duration::from_secs(
            cfg.events.outbox_retention_hours.saturating_mul(3600),
        ));
        Ok(Platform {
            cfg,
            catalog,
            dbs,
            auth,
            jwt_secret,
            bus,
            assessment: Arc::default(),
            reporting: Arc::default(),
            analytics,
        })
    }

    /// The assessment service's state (its outbox relay starts with it).
    pub fn assessment(&self) -> &kompass_assessment::Assessment {
        self.assessment.get_or_init(|| {
            kompass_assessment::Assessment::new(
                self.directory(),
                self.catalog.db().clone(),
                self.bus.clone(),
            )
        })
    }

    /// The reporting service's state: its analytics tables live in the
    /// analytics database if one is configured, else in the platform
    /// database; comparisons are cached in Redis when configured.
    pub fn reporting(&self) -> &kompass_reporting::Reporting {
        self.reporting.get_or_init(|| {
            kompass_reporting::Reporting::new(
                self.analytics
                    .clone()
                    .unwrap_or_else(|| self.catalog.db().clone()),
                self.catalog.clone(),
                self.bus.clone(),
                self.cfg
                    .redis
                    .url
                    .as_deref()
                    .map(|u| (u, self.cfg.redis.key_prefix.as_str())),
            )
            .with_min_group(self.cfg.comparison.min_group)
            .with_consumer_options(kompass_events::ConsumerOptions {
                max_deliveries: self.cfg.events.max_deliveries.max(1),
                ..Default::default()
            })
        })
    }

    /// Load shedding, and health probes of what every service needs: the
    /// catalog database (every call is authorised against it) and Redis when
    /// configured (events, caches).
    fn serve_options(&self) -> kompass_grpc::Options {
        let mut probes: Vec<(&'static str, kompass_grpc::Probe)> = Vec::new();
        let catalog = self.catalog.db().clone();
        probes.push((
            "catalog database",
            Arc::new(move || {
                let db = catalog.clone();
                Box::pin(async move { db.ping().await.map_err(|e| e.to_string()) })
            }),
        ));
        if self.cfg.redis.url.is_some() {
            let bus = self.bus.clone();
            probes.push((
                "redis",
                Arc::new(move || {
                    let bus = bus.clone();
                    Box::pin(async move { bus.ping().await.map_err(|e| e.to_string()) })
                }),
            ));
        }
        kompass_grpc::Options {
            max_concurrent_requests: self.cfg.server.max_concurrent_requests,
            probes,
            probe_interval: Duration::from_millis(self.cfg.server.health_probe_interval_ms.max(1)),
        }
    }

    pub fn directory(&self) -> TenantDirectory {
        TenantDirectory {
            catalog: self.catalog.clone(),
            dbs: self.dbs.clone(),
        }
    }

    /// Starts one service on `listener`; it stops when `shutdown` turns true.
    pub fn spawn(
        &self,
        kind: ServiceKind,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<Result<(), ServeError>> {
        let (name, routes, services) = match kind {
            ServiceKind::Tenancy => (
                "tenancy",
                kompass_tenancy::routes(kompass_tenancy::Tenancy {
                    catalog: self.catalog.clone(),
                    dbs: self.dbs.clone(),
                    tenant_db_prefix: self.cfg.database.tenant_db_prefix.clone(),
                }),
                services(kind),
            ),
            ServiceKind::Assessment => (
                "assessment",
                kompass_assessment::routes(self.assessment().clone()),
                services(kind),
            ),
            ServiceKind::Projects => (
                "projects",
                kompass_projects::routes(kompass_projects::Projects::new(
                    self.directory(),
                    self.cfg.service_url(ServiceKind::Assessment),
                    self.bus.clone(),
                )),
                services(kind),
            ),
            ServiceKind::Reporting => {
                let st = self.reporting().clone();
                st.spawn_consumer(shutdown.clone());
                ("reporting", kompass_reporting::routes(st), services(kind))
            }
        };
        let auth = self.auth.clone();
        let options = self.serve_options();
        tokio::spawn(async move {
            let stop = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            kompass_grpc::serve(name, listener, routes, services, auth, options, stop)
                .await
                .map_err(|e| ServeError::Transport(name, e))
        })
    }
}

/// The access cache the configuration asks for (see
/// [`kompass_config::AccessCacheMode`]).
async fn access_cache(cfg: &Config) -> Result<Option<AccessCache>, ServeError> {
    use kompass_config::AccessCacheMode as M;
    let ttl = Duration::from_millis(cfg.auth.access_cache_ttl_ms);
    if ttl.is_zero() {
        return Ok(None);
    }
    Ok(match (cfg.auth.access_cache, &cfg.redis.url) {
        (M::Off, _) => None,
        (M::Process, _) => Some(AccessCache::in_process(ttl)),
        (M::Auto, Some(url)) => Some(AccessCache::redis(ttl, url, &cfg.redis.key_prefix).await?),
        (M::Auto, None) if cfg.is_embedded() => Some(AccessCache::in_process(ttl)),
        (M::Auto, None) => None,
    })
}

/// The gRPC service names one server of `kind` answers (what its health and
/// reflection list).
pub fn services(kind: ServiceKind) -> &'static [&'static str] {
    match kind {
        ServiceKind::Tenancy => kompass_tenancy::SERVICES,
        ServiceKind::Assessment => kompass_assessment::SERVICES,
        ServiceKind::Projects => kompass_projects::SERVICES,
        ServiceKind::Reporting => kompass_reporting::SERVICES,
    }
}

/// Services started together, stopped together.
pub struct Running {
    pub addrs: BTreeMap<ServiceKind, SocketAddr>,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    pub fn url(&self, kind: ServiceKind) -> String {
        format!("http://{}", self.addrs[&kind])
    }

    /// Waits until a service stops (an error) or shutdown is asked.
    pub async fn wait(&mut self) -> Result<(), ServeError> {
        let (res, _, rest) = futures::future::select_all(std::mem::take(&mut self.handles)).await;
        self.handles = rest;
        res.unwrap_or(Ok(()))
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Binds and starts `kinds`; port 0 binds any free port (tests).
pub async fn start(
    platform: &Platform,
    kinds: &[ServiceKind],
    port: impl Fn(ServiceKind) -> u16,
) -> Result<Running, ServeError> {
    let (stop, rx) = watch::channel(false);
    let mut addrs = BTreeMap::new();
    let mut listeners = Vec::new();
    for &kind in kinds {
        let addr = format!("{}:{}", platform.cfg.listen_host, port(kind));
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| ServeError::Io(format!("binding {} to {addr}", kind.as_str()), e))?;
        addrs.insert(
            kind,
            listener
                .local_addr()
                .map_err(|e| ServeError::Io("local_addr".into(), e))?,
        );
        listeners.push((kind, listener));
    }
    // Services started together reach each other where they were actually
    // bound (port 0 in tests), unless a URL was configured explicitly.
    let mut platform = platform.clone();
    for (kind, addr) in &addrs {
        let slot = match kind {
            ServiceKind::Tenancy => &mut platform.cfg.services.tenancy,
            ServiceKind::Assessment => &mut platform.cfg.services.assessment,
            ServiceKind::Projects => &mut platform.cfg.services.projects,
            ServiceKind::Reporting => &mut platform.cfg.services.reporting,
        };
        if slot.is_none() {
            *slot = Some(format!("http://{addr}"));
        }
    }
    let handles = listeners
        .into_iter()
        .map(|(kind, listener)| platform.spawn(kind, listener, rx.clone()))
        .collect();
    Ok(Running {
        addrs,
        stop,
        handles,
    })
}
