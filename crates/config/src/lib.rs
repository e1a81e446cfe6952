//! Configuration: defaults, then a TOML file (`KOMPASS_CONFIG`), then `KOMPASS_*`
//! environment variables. No database URL means the embedded SQLite default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("environment variable {var}={value:?} is not valid: {reason}")]
    Env {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// The services that make up Kompass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    Tenancy,
    Assessment,
    Projects,
    Reporting,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [
        ServiceKind::Tenancy,
        ServiceKind::Assessment,
        ServiceKind::Projects,
        ServiceKind::Reporting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Tenancy => "tenancy",
            ServiceKind::Assessment => "assessment",
            ServiceKind::Projects => "projects",
            ServiceKind::Reporting => "reporting",
        }
    }

    pub fn parse(s: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address every gRPC server binds to.
    pub listen_host: String,
    pub ports: Ports,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub comparison: ComparisonConfig,
    /// Where services reach each other; default: the local ports.
    pub services: ServiceUrls,
    pub console: ConsoleConfig,
    /// Browser sign-in at an OpenID provider (the console).
    pub oidc: OidcConfig,
    /// The console's server-side sessions.
    pub sessions: SessionConfig,
    /// Limits every gRPC server applies to itself.
    pub server: ServerConfig,
    pub events: EventsConfig,
}

/// The event pipeline: consumers, dead letters, retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// An event pending this long with a consumer that stopped (a replaced
    /// pod) is taken over by another.
    pub claim_idle_ms: u64,
    /// A consumer idle this long with nothing pending is removed from its group.
    pub forget_consumer_after_secs: u64,
    /// An event that fails this many deliveries moves to the dead-letter stream.
    pub max_deliveries: u64,
    /// Sent outbox rows are deleted after this many hours.
    pub outbox_retention_hours: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            claim_idle_ms: 60_000,
            forget_consumer_after_secs: 3_600,
            max_deliveries: 5,
            outbox_retention_hours: 168,
        }
    }
}

/// Load shedding and health of every gRPC server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Calls one server handles at once; the next is refused with UNAVAILABLE
    /// at once instead of queueing without bound (health and reflection are
    /// never refused). 0: no limit.
    pub max_concurrent_requests: usize,
    /// How often health checks the catalog database and Redis.
    pub health_probe_interval_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_concurrent_requests: 512,
            health_probe_interval_ms: 2_000,
        }
    }
}

/// The browser console (`kompass serve console`, and inside `kompass dev`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    pub port: u16,
    /// Secure session cookies; on whenever the console is served over HTTPS.
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            port: 8080,
            secure_cookies: false,
        }
    }
}

/// OpenID Connect client settings of the console; sign-in through a provider
/// is on when `issuer` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `{public console URL}/auth/callback`, registered at the provider.
    pub redirect_url: Option<String>,
}

impl OidcConfig {
    pub fn is_configured(&self) -> bool {
        self.issuer.is_some()
    }
}

/// Where console sessions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreKind {
    /// Redis when `redis.url` is set, else the catalog database.
    #[default]
    Auto,
    /// In process: lost on restart.
    Memory,
    Redis,
    Database,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    pub store: SessionStoreKind,
    /// A session unused this long ends (and never outlives the ID token).
    pub ttl_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            store: SessionStoreKind::Auto,
            ttl_secs: 8 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    pub tenancy: u16,
    pub assessment: u16,
    pub projects: u16,
    pub reporting: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Catalog database (PostgreSQL). `None`: embedded SQLite under `data_dir`.
    pub url: Option<String>,
    /// Tenant database servers by name. The catalog's own server is always
    /// available as `primary`.
    pub servers: BTreeMap<String, String>,
    /// Prefix of tenant database names (`{prefix}{tenant}`).
    pub tenant_db_prefix: String,
    /// Cap on open tenant-database connections in one process.
    pub max_connections: u32,
    /// Connections per tenant pool.
    pub pool_size: u32,
    /// A tenant pool unused this long is closed.
    pub idle_timeout_secs: u64,
    /// Catalog connections.
    pub catalog_pool_size: u32,
    /// The reporting service's analytics database (PostgreSQL). `None`: its
    /// tables live in the catalog database.
    pub analytics_url: Option<String>,
    /// Embedded mode: SQLite files live here.
    pub data_dir: PathBuf,
    /// Tenant databases migrated at once by `kompass migrate`.
    pub migrate_concurrency: usize,
    /// `sslmode` for every PostgreSQL URL that does not name one (libpq's
    /// values: disable, allow, prefer, require, verify-ca, verify-full).
    /// `None`: the driver's default, `prefer`.
    pub ssl_mode: Option<String>,
    /// PostgreSQL `statement_timeout` of every service connection, in
    /// milliseconds (`kompass migrate` runs without one). 0: none.
    pub statement_timeout_ms: u64,
}

/// libpq's `sslmode` values, which sqlx accepts too.
pub const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `None`: in-process cache and event bus.
    pub url: Option<String>,
    /// Prefix of every key and stream, so several deployments can share a Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret (development). Either this or `jwks_url`.
    pub jwt_secret: Option<String>,
    pub issuer: String,
    pub audience: String,
    /// RS256/ES256 keys of an OIDC provider.
    pub jwks_url: Option<String>,
    /// JWKS keys are refetched after this many seconds (and on an unknown
    /// `kid`, at most every 30 seconds).
    pub jwks_ttl_secs: u64,
    /// A user made operator at start when the catalog has no active operator
    /// at all (the first operator of a fresh deployment). Never re-grants
    /// while another operator exists.
    pub bootstrap_operator: Option<String>,
    /// Where grants, placement and assignments read on every request are
    /// cached, invalidated on every change.
    pub access_cache: AccessCacheMode,
    /// Upper bound on how long a cached entry lives when an invalidation
    /// was missed.
    pub access_cache_ttl_ms: u64,
}

/// Which access cache a process keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccessCacheMode {
    /// Redis pub/sub invalidation when Redis is configured; in process when
    /// embedded (one process by construction); otherwise off, since separate
    /// processes without Redis cannot hear each other's changes.
    #[default]
    Auto,
    /// In process only: for a deployment that serves every service in one
    /// process (`kompass serve all`).
    Process,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonConfig {
    /// Groups of fewer municipalities than this (or with fewer unnamed ones,
    /// if any) get their count and a `suppressed` flag instead of figures.
    pub min_group: u32,
}

impl Default for ComparisonConfig {
    fn default() -> Self {
        ComparisonConfig { min_group: 5 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; none: no export.
    pub otlp_endpoint: Option<String>,
    pub log_format: LogFormat,
    /// `tracing` filter, e.g. `info,kompass=debug`.
    pub log: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceUrls {
    pub tenancy: Option<String>,
    pub assessment: Option<String>,
    pub projects: Option<String>,
    pub reporting: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_host: "127.0.0.1".into(),
            ports: Ports::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig {
                url: None,
                key_prefix: "kompass:".into(),
            },
            auth: AuthConfig::default(),
            telemetry: TelemetryConfig::default(),
            comparison: ComparisonConfig::default(),
            services: ServiceUrls::default(),
            console: ConsoleConfig::default(),
            oidc: OidcConfig::default(),
            sessions: SessionConfig::default(),
            server: ServerConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            tenancy: 50051,
            assessment: 50052,
            projects: 50053,
            reporting: 50054,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            servers: BTreeMap::new(),
            tenant_db_prefix: "kompass_t_".into(),
            max_connections: 40,
            pool_size: 2,
            idle_timeout_secs: 300,
            catalog_pool_size: 5,
            analytics_url: None,
            data_dir: PathBuf::from(".kompass-dev"),
            migrate_concurrency: 4,
            ssl_mode: None,
            statement_timeout_ms: 30_000,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            issuer: "kompass".into(),
            audience: "kompass".into(),
            jwks_url: None,
            jwks_ttl_secs: 600,
            bootstrap_operator: None,
            access_cache: AccessCacheMode::Auto,
            access_cache_ttl_ms: 5_000,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            log_format: LogFormat::Text,
            // Migration progress is for operators running `kompass migrate` with
            // KOMPASS_LOG=debug, not the wall a newcomer meets in `kompass dev`.
            log: "info,sea_orm_migration=warn".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file named by `file` or `KOMPASS_CONFIG`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("KOMPASS_"))
            .collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("KOMPASS_CONFIG").map(PathBuf::from));
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source })?
            }
            None => Config::default(),
        };
        cfg.apply_env(&env)?;
        Ok(cfg)
    }

    /// Applies `KOMPASS_*` variables; the table in README.md lists them.
    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError::Env {
                var,
                value: v.into(),
                reason: "expected a whole number".into(),
            })
        }
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        for (k, v) in env {
            let v = v.as_str();
            match k.as_str() {
                "KOMPASS_LISTEN_HOST" => self.listen_host = v.into(),
                "KOMPASS_TENANCY_PORT" => self.ports.tenancy = num("KOMPASS_TENANCY_PORT", v)?,
                "KOMPASS_ASSESSMENT_PORT" => {
                    self.ports.assessment = num("KOMPASS_ASSESSMENT_PORT", v)?
                }
                "KOMPASS_PROJECTS_PORT" => self.ports.projects = num("KOMPASS_PROJECTS_PORT", v)?,
                "KOMPASS_REPORTING_PORT" => {
                    self.ports.reporting = num("KOMPASS_REPORTING_PORT", v)?
                }
                "KOMPASS_DATABASE_URL" => self.database.url = some(v),
                "KOMPASS_DATABASE_SERVERS" => {
                    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let (name, url) = pair.split_once('=').ok_or_else(|| ConfigError::Env {
                            var: "KOMPASS_DATABASE_SERVERS",
                            value: v.into(),
                            reason: "expected name=url pairs separated by commas".into(),
                        })?;
                        self.database
                            .servers
                            .insert(name.trim().into(), url.trim().into());
                    }
                }
                "KOMPASS_ANALYTICS_DATABASE_URL" => self.database.analytics_url = some(v),
                "KOMPASS_TENANT_DB_PREFIX" => self.database.tenant_db_prefix = v.into(),
                "KOMPASS_DB_MAX_CONNECTIONS" => {
                    self.database.max_connections = num("KOMPASS_DB_MAX_CONNECTIONS", v)?
                }
                "KOMPASS_DB_POOL_SIZE" => self.database.pool_size = num("KOMPASS_DB_POOL_SIZE", v)?,
                "KOMPASS_DB_IDLE_TIMEOUT_SECS" => {
                    self.database.idle_timeout_secs = num("KOMPASS_DB_IDLE_TIMEOUT_SECS", v)?
                }
                "KOMPASS_CATALOG_POOL_SIZE" => {
                    self.database.catalog_pool_size = num("KOMPASS_CATALOG_POOL_SIZE", v)?
                }
                "KOMPASS_MIGRATE_CONCURRENCY" => {
                    self.database.migrate_concurrency = num("KOMPASS_MIGRATE_CONCURRENCY", v)?
                }
                "KOMPASS_DB_SSLMODE" => {
                    if !v.is_empty() && !SSL_MODES.contains(&v) {
                        return Err(ConfigError::Env {
                            var: "KOMPASS_DB_SSLMODE",
                            value: v.into(),
                            reason: format!("expected one of {}", SSL_MODES.join(", ")),
                        });
                    }
                    self.database.ssl_mode = some(v)
                }
                "KOMPASS_DB_STATEMENT_TIMEOUT_MS" => {
                    self.database.statement_timeout_ms = num("KOMPASS_DB_STATEMENT_TIMEOUT_MS", v)?
                }
                "KOMPASS_MAX_CONCURRENT_REQUESTS" => {
                    self.server.max_concurrent_requests = num("KOMPASS_MAX_CONCURRENT_REQUESTS", v)?
                }
                "KOMPASS_HEALTH_PROBE_INTERVAL_MS" => {
                    self.server.health_probe_interval_ms =
                        num("KOMPASS_HEALTH_PROBE_INTERVAL_MS", v)?;
                    if self.server.health_probe_interval_ms == 0 {
                        return Err(ConfigError::Env {
                            var: "KOMPASS_HEALTH_PROBE_INTERVAL_MS",
                            value: v.into(),
                            reason: "must be at least 1".into(),
                        });
                    }
                }
                "KOMPASS_EVENTS_CLAIM_IDLE_MS" => {
                    self.events.claim_idle_ms = num("KOMPASS_EVENTS_CLAIM_IDLE_MS", v)?
                }
                "KOMPASS_EVENTS_FORGET_CONSUMER_AFTER_SECS" => {
                    self.events.forget_consumer_after_secs =
                        num("KOMPASS_EVENTS_FORGET_CONSUMER_AFTER_SECS", v)?
                }
                "KOMPASS_EVENTS_MAX_DELIVERIES" => {
                    self.events.max_deliveries = num("KOMPASS_EVENTS_MAX_DELIVERIES", v)?;
                    if self.events.max_deliveries == 0 {
                        return Err(ConfigError::Env {
                            var: "KOMPASS_EVENTS_MAX_DELIVERIES",
                            value: v.into(),
                            reason: "must be at least 1".into(),
                        });
                    }
                }
                "KOMPASS_OUTBOX_RETENTION_HOURS" => {
                    self.events.outbox_retention_hours = num("KOMPASS_OUTBOX_RETENTION_HOURS", v)?
                }
                "KOMPASS_DATA_DIR" => self.database.data_dir = v.into(),
                "KOMPASS_REDIS_URL" => self.redis.url = some(v),
                "KOMPASS_REDIS_KEY_PREFIX" => self.redis.key_prefix = v.into(),
                "KOMPASS_JWT_SECRET" => self.auth.jwt_secret = some(v),
                "KOMPASS_JWT_ISSUER" => self.auth.issuer = v.into(),
                "KOMPASS_JWT_AUDIENCE" => self.auth.audience = v.into(),
                "KOMPASS_JWKS_URL" => self.auth.jwks_url = some(v),
                "KOMPASS_JWKS_TTL_SECS" => {
                    self.auth.jwks_ttl_secs = num("KOMPASS_JWKS_TTL_SECS", v)?
                }
                "KOMPASS_BOOTSTRAP_OPERATOR" => self.auth.bootstrap_operator = some(v),
                "KOMPASS_COMPARISON_MIN_GROUP" => {
                    self.comparison.min_group = num("KOMPASS_COMPARISON_MIN_GROUP", v)?;
                    if self.comparison.min_group == 0 {
                        return Err(ConfigError::Env {
                            var: "KOMPASS_COMPARISON_MIN_GROUP",
                            value: v.into(),
                            reason: "must be at least 1".into(),
                        });
                    }
                }
                "KOMPASS_ACCESS_CACHE" => {
                    self.auth.access_cache = match v {
                        "auto" => AccessCacheMode::Auto,
                        "process" => AccessCacheMode::Process,
                        "off" => AccessCacheMode::Off,
                        _ => {
                            return Err(ConfigError::Env {
                                var: "KOMPASS_ACCESS_CACHE",
                                value: v.into(),
                                reason: "expected auto, process or off".into(),
                            });
                        }
                    }
                }
                "KOMPASS_ACCESS_CACHE_TTL_MS" => {
                    self.auth.access_cache_ttl_ms = num("KOMPASS_ACCESS_CACHE_TTL_MS", v)?
                }
                "KOMPASS_OTLP_ENDPOINT" => self.telemetry.otlp_endpoint = some(v),
                "KOMPASS_LOG_FORMAT" => {
                    self.telemetry.log_format = match v {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        _ => {
                            return Err(ConfigError::Env {
                                var: "KOMPASS_LOG_FORMAT",
                                value: v.into(),
                                reason: "expected text or json".into(),
                            });
                        }
                    }
                }
                "KOMPASS_LOG" => self.telemetry.log = v.into(),
                "KOMPASS_CONSOLE_PORT" => self.console.port = num("KOMPASS_CONSOLE_PORT", v)?,
                "KOMPASS_CONSOLE_SECURE_COOKIES" => {
                    self.console.secure_cookies = match v {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => {
                            return Err(ConfigError::Env {
                                var: "KOMPASS_CONSOLE_SECURE_COOKIES",
                                value: v.into(),
                                reason: "expected true or false".into(),
                            });
                        }
                    }
                }
                "KOMPASS_OIDC_ISSUER" => self.oidc.issuer = some(v),
                "KOMPASS_OIDC_CLIENT_ID" => self.oidc.client_id = some(v),
                "KOMPASS_OIDC_CLIENT_SECRET" => self.oidc.client_secret = some(v),
                "KOMPASS_OIDC_REDIRECT_URL" => self.oidc.redirect_url = some(v),
                "KOMPASS_SESSION_STORE" => {
                    self.sessions.store = match v {
                        "auto" => SessionStoreKind::Auto,
                        "memory" => SessionStoreKind::Memory,
                        "redis" => SessionStoreKind::Redis,
                        "database" => SessionStoreKind::Database,
                        _ => {
                            return Err(ConfigError::Env {
                                var: "KOMPASS_SESSION_STORE",
                                value: v.into(),
                                reason: "expected auto, memory, redis or database".into(),
                            });
                        }
                    }
                }
                "KOMPASS_SESSION_TTL_SECS" => {
                    self.sessions.ttl_secs = num("KOMPASS_SESSION_TTL_SECS", v)?
                }
                "KOMPASS_TENANCY_URL" => self.services.tenancy = some(v),
                "KOMPASS_ASSESSMENT_URL" => self.services.assessment = some(v),
                "KOMPASS_PROJECTS_URL" => self.services.projects = some(v),
                "KOMPASS_REPORTING_URL" => self.services.reporting = some(v),
                // Read by the CLI, not part of the server config.
                "KOMPASS_CONFIG"
                | "KOMPASS_TOKEN"
                | "KOMPASS_TEST_DATABASE_URL"
                | "KOMPASS_TEST_REDIS_URL" => {}
                other => {
                    return Err(ConfigError::Env {
                        var: "KOMPASS_*",
                        value: other.into(),
                        reason: "unknown setting; see the configuration table in README.md".into(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn port(&self, kind: ServiceKind) -> u16 {
        match kind {
            ServiceKind::Tenancy => self.ports.tenancy,
            ServiceKind::Assessment => self.ports.assessment,
            ServiceKind::Projects => self.ports.projects,
            ServiceKind::Reporting => self.ports.reporting,
        }
    }

    /// URL another service uses to reach `kind`.
    pub fn service_url(&self, kind: ServiceKind) -> String {
        let configured = match kind {
            ServiceKind::Tenancy => &self.services.tenancy,
            ServiceKind::Assessment => &self.services.assessment,
            ServiceKind::Projects => &self.services.projects,
            ServiceKind::Reporting => &self.services.reporting,
        };
        configured.clone().unwrap_or_else(|| {
            let host = match self.listen_host.as_str() {
                "0.0.0.0" | "::" => "127.0.0.1",
                h => h,
            };
            format!("http://{host}:{}", self.port(kind))
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.database.url.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let mut cfg: Config = toml::from_str(
            "listen_host = \"0.0.0.0\"\n[database]\npool_size = 3\nmax_connections = 10\n",
        )
        .unwrap();
        assert_eq!(cfg.database.pool_size, 3);
        assert_eq!(cfg.ports.tenancy, 50051);
        assert_eq!(cfg.console.port, 8080);
        let env = BTreeMap::from([
            ("KOMPASS_DB_POOL_SIZE".to_string(), "4".to_string()),
            ("KOMPASS_CONSOLE_PORT".to_string(), "8181".to_string()),
            (
                "KOMPASS_DATABASE_SERVERS".to_string(),
                "b=postgres://h2/x, c=postgres://h3/y".to_string(),
            ),
        ]);
        cfg.apply_env(&env).unwrap();
        assert_eq!(cfg.database.pool_size, 4);
        assert_eq!(cfg.database.max_connections, 10);
        assert_eq!(cfg.console.port, 8181);
        assert_eq!(cfg.database.servers.len(), 2);
        assert_eq!(
            cfg.service_url(ServiceKind::Assessment),
            "http://127.0.0.1:50052"
        );
    }

    #[test]
    fn oidc_and_sessions_from_file_and_env() {
        let mut cfg: Config = toml::from_str(
            "[oidc]\nissuer = \"https://idp.example.se\"\nclient_id = \"kompass\"\n[sessions]\nstore = \"redis\"\n",
        )
        .unwrap();
        assert!(cfg.oidc.is_configured());
        assert_eq!(cfg.sessions.store, SessionStoreKind::Redis);
        assert_eq!(cfg.sessions.ttl_secs, 8 * 3600);
        cfg.apply_env(&BTreeMap::from([
            ("KOMPASS_OIDC_CLIENT_SECRET".to_string(), "s".to_string()),
            ("KOMPASS_SESSION_STORE".to_string(), "database".to_string()),
            ("KOMPASS_SESSION_TTL_SECS".to_string(), "60".to_string()),
        ]))
        .unwrap();
        assert_eq!(cfg.oidc.client_secret.as_deref(), Some("s"));
        assert_eq!(cfg.oidc.client_id.as_deref(), Some("kompass"));
        assert_eq!(cfg.sessions.store, SessionStoreKind::Database);
        assert_eq!(cfg.sessions.ttl_secs, 60);
        assert!(
            cfg.apply_env(&BTreeMap::from([(
                "KOMPASS_SESSION_STORE".to_string(),
                "disk".to_string()
            )]))
            .unwrap_err()
            .to_string()
            .contains("KOMPASS_SESSION_STORE")
        );
    }

    #[test]
    fn bad_env_is_named() {
        let mut cfg = Config::default();
        let err = cfg
            .apply_env(&BTreeMap::from([(
                "KOMPASS_DB_POOL_SIZE".to_string(),
                "many".to_string(),
            )]))
            .unwrap_err();
        assert!(err.to_string().contains("KOMPASS_DB_POOL_SIZE"));
        assert!(
            cfg.apply_env(&BTreeMap::from([(
                "KOMPASS_TYPO".to_string(),
                "1".to_string()
            )]))
            .is_err()
        );
        let err = cfg
            .apply_env(&BTreeMap::from([(
                "KOMPASS_DB_SSLMODE".to_string(),
                "sometimes".to_string(),
            )]))
            .unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
        cfg.apply_env(&BTreeMap::from([(
            "KOMPASS_DB_SSLMODE".to_string(),
            "require".to_string(),
        )]))
        .unwrap();
        assert_eq!(cfg.database.ssl_mode.as_deref(), Some("require"));
    }
}
