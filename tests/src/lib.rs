//! Test harness: each [`TestEnv`] gets its own catalog database and tenant
//! database prefix on the real PostgreSQL server (crates.io's per-test
//! database idea), starts the real services on `127.0.0.1:0` and talks gRPC to
//! them. `KOMPASS_TEST_DATABASE_URL` names the server
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::collections::BTreeMap;
use std::time::Duration;

use kompass_auth::{Claims, mint_hs256};
use kompass_config::{Config, ServiceKind};
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::projects::v1::project_service_client::ProjectServiceClient;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use kompass_serve::{Platform, Running};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tonic::transport::Channel;

/// At least 32 bytes: shorter HS256 secrets are refused outside embedded mode.
pub const SECRET: &str = "test-secret-not-for-production-use";

pub fn server_url() -> String {
    std::env::var("KOMPASS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("KOMPASS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn uniq() -> String {
    let mut r = rand::rng();
    (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[r.random_range(0..36)]))
        .collect()
}

pub struct Options {
    pub max_connections: u32,
    pub pool_size: u32,
    pub extra_servers: BTreeMap<String, String>,
    /// Redis to use instead of the shared test Redis.
    pub redis_url: Option<String>,
    /// Give the reporting service an analytics database of its own
    /// (`kc_<id>_a`) instead of the catalog database.
    pub analytics: bool,
    /// Verify tokens with this JWKS instead of the HS256 [`SECRET`].
    pub jwks_url: Option<String>,
    /// `KOMPASS_JWKS_TTL_SECS`.
    pub jwks_ttl_secs: Option<u64>,
    /// `KOMPASS_COMPARISON_MIN_GROUP` (default: the product's default, 5).
    pub comparison_min_group: Option<u32>,
    /// `KOMPASS_BOOTSTRAP_OPERATOR`; default `operator` (the harness's operator).
    pub bootstrap_operator: Option<String>,
    /// Verify tokens of this OpenID provider by JWKS instead of the HS256
    /// test secret (then [`TestEnv::token`] tokens are refused).
    pub provider: Option<Provider>,
    /// `KOMPASS_ACCESS_CACHE_TTL_MS` (default: the product's).
    pub access_cache_ttl_ms: Option<u64>,
    /// Any further setting, applied last.
    pub configure: Option<fn(&mut Config)>,
}

/// An identity provider the services trust (see `kompass-oidc-fake`).
#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: String,
    pub jwks_url: String,
    /// The console's client id: the audience of its ID tokens.
    pub audience: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 20,
            pool_size: 2,
            extra_servers: BTreeMap::new(),
            redis_url: None,
            analytics: false,
            jwks_url: None,
            jwks_ttl_secs: None,
            comparison_min_group: None,
            bootstrap_operator: None,
            provider: None,
            access_cache_ttl_ms: None,
            configure: None,
        }
    }
}

pub struct TestEnv {
    pub cfg: Config,
    pub platform: Platform,
    pub running: Option<Running>,
    /// Superuser connection to the server's `postgres` database, for checks.
    pub admin: DatabaseConnection,
    pub catalog_db: String,
    pub prefix: String,
    /// (user, roles) pairs [`TestEnv::token`] already granted in the catalog.
    granted: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
}

impl TestEnv {
    pub async fn start() -> TestEnv {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> TestEnv {
        let id = uniq();
        let catalog_db = format!("kc_{id}");
        let prefix = format!("kt{id}_");
        let admin = Database::connect(server_url())
            .await
            .expect("PostgreSQL must be running: scripts/test.sh starts it");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{catalog_db}\""))
            .await
            .unwrap();
        let catalog_url = with_db(&server_url(), &catalog_db);
        kompass_serve::migrate_platform(&catalog_url).await.unwrap();
        let mut cfg = Config::default();
        if o.analytics {
            let db = format!("{catalog_db}_a");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{db}\""))
                .await
                .unwrap();
            let url = with_db(&server_url(), &db);
            kompass_serve::migrate_analytics(&url).await.unwrap();
            cfg.database.analytics_url = Some(url);
        }
        cfg.database.url = Some(catalog_url);
        cfg.database.servers = o.extra_servers.clone();
        cfg.database.tenant_db_prefix = prefix.clone();
        cfg.database.max_connections = o.max_connections;
        cfg.database.pool_size = o.pool_size;
        cfg.database.catalog_pool_size = 3;
        match &o.provider {
            Some(p) => {
                cfg.auth.jwks_url = Some(p.jwks_url.clone());
                cfg.auth.issuer = p.issuer.clone();
                cfg.auth.audience = p.audience.clone();
            }
            None => {
                cfg.auth.jwt_secret = Some(SECRET.into());
                cfg.auth.jwks_url = o.jwks_url.clone();
            }
        }
        if let Some(t) = o.jwks_ttl_secs {
            cfg.auth.jwks_ttl_secs = t;
        }
        // Roles come from the catalog: the harness's `operator` is the
        // deployment's first operator.
        cfg.auth.bootstrap_operator = Some(
            o.bootstrap_operator
                .clone()
                .unwrap_or_else(|| "operator".into()),
        );
        if let Some(ms) = o.access_cache_ttl_ms {
            cfg.auth.access_cache_ttl_ms = ms;
        }
        if let Some(n) = o.comparison_min_group {
            cfg.comparison.min_group = n;
        }
        cfg.redis.url = Some(o.redis_url.unwrap_or_else(redis_url));
        cfg.redis.key_prefix = format!("kompass-test:{id}:");
        if let Some(f) = o.configure {
            f(&mut cfg);
        }
        let platform = Platform::open(cfg.clone()).await.unwrap();
        let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0)
            .await
            .unwrap();
        TestEnv {
            cfg,
            platform,
            running: Some(running),
            admin,
            catalog_db,
            prefix,
            granted: Default::default(),
        }
    }

    pub fn url(&self, k: ServiceKind) -> String {
        self.running.as_ref().unwrap().url(k)
    }

    pub async fn channel(&self, k: ServiceKind) -> Channel {
        Channel::from_shared(self.url(k))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A token for `sub`. Roles in tokens are ignored by the services (the
    /// catalog decides), so the first time a test asks for a user with
    /// platform roles the harness grants them in the catalog, as an operator
    /// would; later revocations by the test are not undone. Use
    /// [`TestEnv::token_only`] for a token that changes nothing.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        if !roles.is_empty() {
            self.grant_once(sub, roles);
        }
        self.token_only(sub, roles)
    }

    /// A token for `sub` that grants nothing in the catalog.
    pub fn token_only(&self, sub: &str, roles: &[&str]) -> String {
        mint_hs256(
            SECRET,
            &Claims::new("kompass", "kompass", sub, roles, Duration::from_secs(600)),
        )
    }

    /// Adds `roles` to `sub` in the catalog (creating the user), once per
    /// (user, roles). `token` is synchronous, so this runs on a thread of its
    /// own with its own connection.
    fn grant_once(&self, sub: &str, roles: &[&str]) {
        let mut sorted: Vec<&str> = roles.to_vec();
        sorted.sort();
        let key = (sub.to_string(), sorted.join(","));
        if !self.granted.lock().unwrap().insert(key) {
            return;
        }
        let url = self.cfg.database.url.clone().expect("catalog url");
        let sub_for_cache = sub.to_string();
        let sub = sub.to_string();
        let roles: Vec<String> = sorted.iter().map(|r| r.to_string()).collect();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(grant(&url, &sub, &roles));
        })
        .join()
        .expect("granting roles in the catalog");
        // Written behind the services' back: tell this process's cache.
        if let (Some(c), Ok(u)) = (
            self.platform.catalog.access_cache(),
            kompass_core::UserId::parse(&sub_for_cache),
        ) {
            c.invalidate_local(&kompass_catalog::Invalidation::User(u));
        }
    }

    pub async fn tenants(&self) -> TenantServiceClient<Channel> {
        TenantServiceClient::new(self.channel(ServiceKind::Tenancy).await)
    }
    /// The ids of the tenants the operator sees through `ListTenants`.
    pub async fn tenant_ids(&self) -> Vec<String> {
        self.tenants()
            .await
            .list_tenants(authed(
                &self.token("operator", &["operator"]),
                kompass_proto::tenancy::v1::ListTenantsRequest {
                    page_size: 100,
                    page_token: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .tenants
            .iter()
            .map(|t| t.name.trim_start_matches("tenants/").to_string())
            .collect()
    }
    pub async fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel(ServiceKind::Tenancy).await)
    }
    pub async fn evaluations(&self) -> EvaluationServiceClient<Channel> {
        EvaluationServiceClient::new(self.channel(ServiceKind::Assessment).await)
    }
    pub async fn projects(&self) -> ProjectServiceClient<Channel> {
        ProjectServiceClient::new(self.channel(ServiceKind::Projects).await)
    }
    pub async fn reporting(&self) -> ReportingServiceClient<Channel> {
        ReportingServiceClient::new(self.channel(ServiceKind::Reporting).await)
    }

    /// Onboards a Swedish tenant as the operator.
    pub async fn onboard(&self, id: &str) -> tpb::Tenant {
        self.tenants()
            .await
            .create_tenant(authed(
                &self.token("operator", &["operator"]),
                new_tenant(id),
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Assigns `who` to `evaluation` as its lead evaluator, as the operator.
    pub async fn assign_lead(&self, evaluation: &str, who: &str) {
        use kompass_proto::assessment::v1 as apb;
        self.evaluations()
            .await
            .create_assignment(authed(
                &self.token("operator", &["operator"]),
                apb::CreateAssignmentRequest {
                    parent: evaluation.into(),
                    assignment: Some(apb::Assignment {
                        user: format!("users/{who}"),
                        role: apb::EvaluatorRole::Lead as i32,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
    }

    /// Creates a user and makes them a member of `tenant` with `role`.
    pub async fn member(&self, user: &str, tenant: &str, role: tpb::TenantRole) {
        let op = self.token("operator", &["operator"]);
        let mut users = self.users().await;
        let _ = users
            .create_user(authed(
                &op,
                tpb::CreateUserRequest {
                    user_id: user.into(),
                    user: Some(tpb::User {
                        email: format!("{user}@example.se"),
                        display_name: user.into(),
                        ..Default::default()
                    }),
                },
            ))
            .await;
        users
            .create_membership(authed(
                &op,
                tpb::CreateMembershipRequest {
                    parent: format!("tenants/{tenant}"),
                    membership: Some(tpb::Membership {
                        user: format!("users/{user}"),
                        role: role as i32,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
    }

    /// Names of this test's tenant databases that exist on the server.
    /// The URL the services use for tenant `t` placed on `primary` (with
    /// the configured sslmode and statement timeout).
    pub fn tenant_url(&self, t: &str) -> String {
        kompass_serve::storage(&self.cfg)
            .unwrap()
            .1
            .url(&kompass_tenant_db::Placement {
                server: "primary".into(),
                database: format!("{}{t}", self.prefix),
            })
            .unwrap()
    }

    pub async fn tenant_databases(&self) -> Vec<String> {
        let like = format!("{}%", self.prefix.replace('_', "\\_"));
        self.admin
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
                [like.into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "datname").unwrap())
            .collect()
    }

    /// Our open connections to this test's tenant databases.
    pub async fn tenant_connections(&self) -> i64 {
        let like = format!("{}%", self.prefix.replace('_', "\\_"));
        self.admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE $1",
                [like.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    }

    /// Stops the services and drops every database this test made.
    pub async fn cleanup(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.platform.dbs.close_all().await;
        self.platform.catalog.db().clone().close().await.ok();
        for db in self.tenant_databases().await {
            // The onboarding template (`{prefix}_template`) cannot be dropped while marked one.
            self.admin
                .execute_unprepared(&format!("ALTER DATABASE \"{db}\" WITH IS_TEMPLATE false"))
                .await
                .ok();
            self.admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .await
                .ok();
        }
        for db in [self.catalog_db.clone(), format!("{}_a", self.catalog_db)] {
            self.admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .await
                .ok();
        }
    }
}

/// Adds platform roles to a user in the catalog at `catalog_url`, creating it.
pub async fn grant(catalog_url: &str, user: &str, roles: &[String]) {
    use kompass_catalog::entity::user;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
    let db = Database::connect(catalog_url).await.unwrap();
    match user::Entity::find_by_id(user).one(&db).await.unwrap() {
        Some(u) => {
            let mut have: Vec<String> = u
                .platform_roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            for r in roles {
                if !have.contains(r) {
                    have.push(r.clone());
                }
            }
            let mut m = u.into_active_model();
            m.platform_roles = Set(have.join(","));
            m.update(&db).await.unwrap();
        }
        None => {
            user::Entity::insert(user::ActiveModel {
                id: Set(user.to_string()),
                email: Set(format!("{user}@example.se")),
                display_name: Set(user.to_string()),
                platform_roles: Set(roles.join(",")),
                language: Set("sv".into()),
                created_at: Set(chrono::Utc::now()),
                delete_time: Set(None),
            })
            .exec(&db)
            .await
            .unwrap();
        }
    }
    db.close().await.ok();
}

pub fn new_tenant(id: &str) -> tpb::CreateTenantRequest {
    tpb::CreateTenantRequest {
        tenant_id: id.into(),
        tenant: Some(tpb::Tenant {
            display_name: format!("{id} kommun"),
            country: tpb::Country::Se as i32,
            municipality_code: "1860".into(),
            population: 12_000,
            ..Default::default()
        }),
        database_server: String::new(),
    }
}

/// A request with a bearer token.
pub fn authed<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Services listed by reflection (v1, v1alpha).
pub async fn reflection_services(ch: Channel) -> (Vec<String>, Vec<String>) {
    use tonic_reflection::pb::{v1, v1alpha};
    let v1_list = {
        let mut c = v1::server_reflection_client::ServerReflectionClient::new(ch.clone());
        let req = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut s = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        match s.message().await.unwrap().unwrap().message_response {
            Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    let v1alpha_list = {
        let mut c = v1alpha::server_reflection_client::ServerReflectionClient::new(ch);
        let req = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let mut s = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        match s.message().await.unwrap().unwrap().message_response {
            Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    (v1_list, v1alpha_list)
}

/// Creates a user with platform roles (as the operator); ignores "already exists".
pub async fn user(env: &TestEnv, id: &str, roles: &[tpb::PlatformRole]) {
    let _ = env
        .users()
        .await
        .create_user(authed(
            &env.token("operator", &["operator"]),
            tpb::CreateUserRequest {
                user_id: id.into(),
                user: Some(tpb::User {
                    email: format!("{id}@example.se"),
                    display_name: format!("{id} (test)"),
                    platform_roles: roles.iter().map(|r| *r as i32).collect(),
                    ..Default::default()
                }),
            },
        ))
        .await;
}

/// A Redis server of a test's own (AOF on, in a temp dir), so a test can stop
/// and restart it without touching the shared one.
pub struct TempRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: std::sync::Mutex<Option<std::process::Child>>,
}

impl TempRedis {
    pub async fn start() -> TempRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("kompass-redis-{port}-{}", uniq()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = TempRedis {
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        r.spawn().await;
        r
    }

    async fn spawn(&self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed: scripts/test.sh installs it");
        *self.child.lock().unwrap() = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("temporary redis did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn restart(self) -> TempRedis {
        self.stop();
        self.spawn().await;
        self
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The platform on its embedded default, as `kompass dev` runs it: SQLite
/// files (catalog, read model, one per tenant) in a temporary directory and
/// the in-process event bus; every service on `127.0.0.1:0`. For the tests
/// of behaviour that differs on SQLite.
pub struct EmbeddedEnv {
    pub platform: Platform,
    pub running: Option<Running>,
    pub dir: std::path::PathBuf,
}

impl EmbeddedEnv {
    pub async fn start() -> EmbeddedEnv {
        let dir = std::env::temp_dir().join(format!("kompass-embedded-{}", uniq()));
        let mut cfg = Config::default();
        cfg.database.data_dir = dir.clone();
        cfg.auth.jwt_secret = Some(SECRET.into());
        // Roles come from the catalog: `operator` is the first operator.
        cfg.auth.bootstrap_operator = Some("operator".into());
        let platform = Platform::open(cfg).await.unwrap();
        let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0)
            .await
            .unwrap();
        EmbeddedEnv {
            platform,
            running: Some(running),
            dir,
        }
    }

    pub async fn channel(&self, k: ServiceKind) -> Channel {
        Channel::from_shared(self.running.as_ref().unwrap().url(k))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        mint_hs256(
            SECRET,
            &Claims::new("kompass", "kompass", sub, roles, Duration::from_secs(600)),
        )
    }

    /// Onboards a Swedish tenant as the operator; `named`: public results.
    pub async fn onboard(&self, id: &str, named: bool) {
        let mut req = new_tenant(id);
        req.tenant.as_mut().unwrap().named_in_comparisons = named;
        TenantServiceClient::new(self.channel(ServiceKind::Tenancy).await)
            .create_tenant(authed(&self.token("operator", &["operator"]), req))
            .await
            .unwrap();
    }

    /// Creates a user with platform roles and, if `tenant` is given, a
    /// membership there.
    pub async fn user(
        &self,
        id: &str,
        roles: &[tpb::PlatformRole],
        tenant: Option<(&str, tpb::TenantRole)>,
    ) {
        let op = self.token("operator", &["operator"]);
        let mut users = UserServiceClient::new(self.channel(ServiceKind::Tenancy).await);
        users
            .create_user(authed(
                &op,
                tpb::CreateUserRequest {
                    user_id: id.into(),
                    user: Some(tpb::User {
                        email: format!("{id}@example.se"),
                        display_name: format!("{id} (test)"),
                        platform_roles: roles.iter().map(|r| *r as i32).collect(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap();
        if let Some((t, role)) = tenant {
            users
                .create_membership(authed(
                    &op,
                    tpb::CreateMembershipRequest {
                        parent: format!("tenants/{t}"),
                        membership: Some(tpb::Membership {
                            user: format!("users/{id}"),
                            role: role as i32,
                            ..Default::default()
                        }),
                    },
                ))
                .await
                .unwrap();
        }
    }

    pub async fn cleanup(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.platform.dbs.close_all().await;
        self.platform.catalog.db().clone().close().await.ok();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poppler's view of a PDF: (text, layout text, pdfinfo, pdfinfo -struct).
pub fn poppler(pdf: &[u8]) -> (String, String, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "kompass-doc-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("d.pdf");
    std::fs::write(&p, pdf).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .arg(&p)
            .args(if args[0] == "pdftotext" {
                &["-"][..]
            } else {
                &[][..]
            })
            .output()
            .expect("poppler-utils must be installed: scripts/test.sh installs it");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `pdfinfo -struct` prints some titles as raw UTF-16 bytes.
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let r = (
        run(&["pdftotext"]),
        run(&["pdftotext", "-layout"]),
        run(&["pdfinfo"]),
        run(&["pdfinfo", "-struct"]),
    );
    let _ = std::fs::remove_dir_all(dir);
    r
}
