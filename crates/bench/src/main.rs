//! `kompass-bench`: benchmarks of the real platform (all four services in this
//! process, real gRPC on loopback) against a real PostgreSQL server.
//!
//! `onboarding`: onboarding time per tenant (create + migrate), then one request
//! to each tenant in turn while watching `pg_stat_activity` for the connection
//! cap, and this process's resident memory throughout. See docs/benchmarks.md.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use kompass_auth::{Claims, mint_hs256};
use kompass_config::{Config, ServiceKind};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_serve::{Platform, Running};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tonic::transport::Channel;

mod comparison;
mod console;
mod documents;
mod old_pdf;
mod projects;
mod scoring;

const SECRET: &str = "kompass-bench-secret-not-for-production";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Parser)]
#[command(
    name = "kompass-bench",
    about = "Benchmarks of the running Kompass platform"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Onboard N tenants, then serve one request to each in turn, watching
    /// connections and memory. Server: KOMPASS_TEST_DATABASE_URL.
    Onboarding(OnboardingArgs),
    /// Time and SQL statements to load a full project over gRPC
    /// (50 milestones, 300 activities, 40 risks, 24 status reports).
    ProjectLoad(projects::ProjectLoadArgs),
    /// Score writes through gRPC by concurrent evaluators against the same
    /// write sent straight to PostgreSQL.
    Scoring(scoring::ScoringArgs),
    /// National comparison from the read model (cached, cold) against the
    /// same figures from every tenant database at request time; PDF export.
    Comparison(comparison::ComparisonArgs),
    /// The browser console's pages (public report, comparison, signed-in
    /// home) beside the gRPC calls each makes, in the same requests.
    Console(console::ConsoleArgs),
    /// The full evaluation report as PDF, rendered in process: the Typst
    /// engine beside the previous exporter.
    Documents(documents::DocumentsArgs),
}

#[derive(Args, Clone)]
struct OnboardingArgs {
    /// Tenants to onboard.
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// Cap on tenant-database connections (database.max_connections).
    #[arg(long, default_value_t = 20)]
    cap: u32,
    /// Connections per tenant pool (database.pool_size).
    #[arg(long, default_value_t = 2)]
    pool_size: u32,
    /// CreateTenant calls in flight at once in phase 1.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Requests in flight at once in phase 2 (1: each tenant in turn).
    #[arg(long, default_value_t = 1)]
    request_concurrency: usize,
    /// Bare `CREATE DATABASE` statements timed after phase 2, to see how much
    /// of onboarding is the server creating the database.
    #[arg(long, default_value_t = 20)]
    probe_creates: usize,
    /// Onboard without the template (create and migrate each), as before it.
    #[arg(long)]
    no_template: bool,
    /// Cold pool opens (connect + first query) timed with and without TLS.
    #[arg(long, default_value_t = 100)]
    cold_samples: usize,
}

impl OnboardingArgs {
    fn command(&self) -> String {
        format!(
            "cargo run --release -p kompass-bench -- onboarding --tenants {} --cap {} --pool-size {} --concurrency {} --request-concurrency {} --probe-creates {} --cold-samples {}{}",
            self.tenants,
            self.cap,
            self.pool_size,
            self.concurrency,
            self.request_concurrency,
            self.probe_creates,
            self.cold_samples,
            if self.no_template {
                " --no-template"
            } else {
                ""
            }
        )
    }
}

fn server_url() -> String {
    std::env::var("KOMPASS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.into())
}

/// `url` with its database name replaced by `db`.
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

/// Eight random lowercase letters and digits (std's per-process random hash keys).
fn random8() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    let mut x = h.finish();
    (0..8)
        .map(|_| {
            let c = b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize];
            x /= 36;
            char::from(c)
        })
        .collect()
}

fn like_prefix(prefix: &str) -> String {
    format!("{}%", prefix.replace('\\', "\\\\").replace('_', "\\_"))
}

#[derive(Clone, Copy, Default)]
struct Mem {
    rss_kb: u64,
    hwm_kb: u64,
    /// User + system CPU time of this process so far.
    cpu: Duration,
}

/// utime + stime from /proc/self/stat (clock ticks, 100 per second on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// VmRSS and VmHWM of this process.
fn mem() -> Mem {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        cpu: cpu_time(),
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

struct Stats {
    median: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        median: pct(&v, 0.5),
        p90: pct(&v, 0.9),
        p99: pct(&v, 0.99),
        max: v.last().copied().unwrap_or_default(),
    }
}

async fn count(admin: &DatabaseConnection, sql: &str, like: &str) -> Result<i64> {
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [like.into()],
        ))
        .await?
        .context("count returned no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Polls `pg_stat_activity` (and the registry) every ~5 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicI64>,
    peak_pools: Arc<AtomicUsize>,
    samples: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Result<()>>,
}

struct Sampled {
    peak: i64,
    peak_pools: usize,
    samples: u64,
}

impl Sampler {
    async fn start(platform: &Platform, like: &str) -> Result<Sampler> {
        let admin = Database::connect(server_url()).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicI64::new(0));
        let peak_pools = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicU64::new(0));
        let task = {
            let (stop, peak, peak_pools, samples) = (
                stop.clone(),
                peak.clone(),
                peak_pools.clone(),
                samples.clone(),
            );
            let like = like.to_string();
            let dbs = platform.dbs.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = count(
                        &admin,
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE $1",
                        &like,
                    )
                    .await?;
                    peak.fetch_max(n, Ordering::Relaxed);
                    peak_pools.fetch_max(dbs.stats().open_pools, Ordering::Relaxed);
                    samples.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                admin.close().await.ok();
                Ok(())
            })
        };
        Ok(Sampler {
            stop,
            peak,
            peak_pools,
            samples,
            task,
        })
    }

    async fn finish(self) -> Result<Sampled> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.context("sampler panicked")??;
        Ok(Sampled {
            peak: self.peak.load(Ordering::Relaxed),
            peak_pools: self.peak_pools.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
        })
    }
}

fn authed<T>(token: &str, msg: T) -> Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

fn new_tenant(id: &str) -> tpb::CreateTenantRequest {
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

async fn channel(running: &Running, k: ServiceKind) -> Result<Channel> {
    Ok(Channel::from_shared(running.url(k))?.connect().await?)
}

struct Report {
    pg_version: String,
    cores: usize,
    onboard: Stats,
    onboard_total: Duration,
    databases: i64,
    probe: Option<Stats>,
    template_build: Option<Duration>,
    /// Tenant databases (copied from the template, created and migrated).
    provisioned: (u64, u64),
    /// Cold pool opens: (TLS, no TLS), same run.
    cold: Option<(Stats, Stats)>,
    requests: Stats,
    requests_total: Duration,
    warm: Stats,
    p1: Sampled,
    p2: Sampled,
    max_pools: usize,
    mem0: Mem,
    mem1: Mem,
    mem2: Mem,
}

struct Env {
    admin: DatabaseConnection,
    catalog_db: String,
    prefix: String,
}

impl Env {
    /// A catalog database and tenant prefix of this run's own (dropped by
    /// [`cleanup`]), and the run's id for anything else it names.
    async fn create() -> Result<(Env, String)> {
        let id = random8();
        let admin = Database::connect(server_url())
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", server_url()))?;
        let env = Env {
            admin,
            catalog_db: format!("kbench_{id}_c"),
            prefix: format!("kbench{id}_"),
        };
        env.admin
            .execute_unprepared(&format!("CREATE DATABASE \"{}\"", env.catalog_db))
            .await
            .context("creating the catalog database")?;
        eprintln!("catalog {}, tenant prefix {}", env.catalog_db, env.prefix);
        Ok((env, id))
    }
}

async fn run(a: &OnboardingArgs, env: &Env) -> Result<Report> {
    let pg_version: String = env
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('server_version') AS v",
        ))
        .await?
        .context("no version")?
        .try_get("", "v")?;
    let catalog_url = with_db(&server_url(), &env.catalog_db);
    kompass_serve::migrate_platform(&catalog_url)
        .await
        .context("migrating the catalog")?;
    let mut cfg = Config::default();
    cfg.database.url = Some(catalog_url);
    cfg.database.tenant_db_prefix = env.prefix.clone();
    cfg.database.max_connections = a.cap;
    cfg.database.pool_size = a.pool_size;
    cfg.auth.jwt_secret = Some(SECRET.into());
    // Roles come from the catalog: `operator` is the first operator.
    cfg.auth.bootstrap_operator = Some("operator".into());
    let platform = Platform::open(cfg).await.context("opening the platform")?;
    let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0)
        .await
        .context("starting the services")?;
    let res = phases(a, env, &platform, &running, pg_version).await;
    running.shutdown().await;
    platform.dbs.close_all().await;
    platform.catalog.db().clone().close().await.ok();
    res
}

async fn phases(
    a: &OnboardingArgs,
    env: &Env,
    platform: &Platform,
    running: &Running,
    pg_version: String,
) -> Result<Report> {
    let like = like_prefix(&env.prefix);
    let op = mint_hs256(
        SECRET,
        &Claims::new(
            "kompass",
            "kompass",
            "operator",
            &["operator"],
            Duration::from_secs(6 * 3600),
        ),
    );
    let tenants = TenantServiceClient::new(channel(running, ServiceKind::Tenancy).await?);
    let evaluations =
        EvaluationServiceClient::new(channel(running, ServiceKind::Assessment).await?);
    let ids: Vec<String> = (0..a.tenants).map(|i| format!("t{i:05}")).collect();
    let mem0 = mem();

    // The template `kompass migrate` keeps (re-created here as it does).
    let template_build = if a.no_template {
        None
    } else {
        let t = Instant::now();
        kompass_tenancy::onboarding::refresh_template(
            platform.dbs.backend(),
            &env.prefix,
            "primary",
        )
        .await
        .context("building the onboarding template")?;
        let d = t.elapsed();
        eprintln!("template built in {:.0} ms", d.as_secs_f64() * 1e3);
        Some(d)
    };
    let counts0 = kompass_tenancy::onboarding::provision_counts();

    // Phase 1: onboarding through the real CreateTenant.
    eprintln!(
        "phase 1: onboarding {} tenants, {} at a time",
        a.tenants, a.concurrency
    );
    let sampler = Sampler::start(platform, &like).await?;
    let done = AtomicUsize::new(0);
    let t0 = Instant::now();
    let lat: Vec<Result<Duration>> = futures::stream::iter(ids.iter().map(|id| {
        let mut c = tenants.clone();
        let (op, done) = (&op, &done);
        async move {
            let t = Instant::now();
            c.create_tenant(authed(op, new_tenant(id))?)
                .await
                .with_context(|| format!("CreateTenant {id}"))?;
            let d = t.elapsed();
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 100 == 0 {
                eprintln!("  {n} onboarded, {:.1} s", t0.elapsed().as_secs_f64());
            }
            Ok(d)
        }
    }))
    .buffer_unordered(a.concurrency.max(1))
    .collect()
    .await;
    let onboard_total = t0.elapsed();
    let counts1 = kompass_tenancy::onboarding::provision_counts();
    let provisioned = (counts1.0 - counts0.0, counts1.1 - counts0.1);
    let p1 = sampler.finish().await?;
    let lat = lat.into_iter().collect::<Result<Vec<_>>>()?;
    let mem1 = mem();
    let databases = count(
        &env.admin,
        "SELECT count(*) AS n FROM pg_database WHERE datname LIKE $1 AND NOT datistemplate",
        &like,
    )
    .await?;

    // Phase 2: one request to each tenant in turn, watching connections.
    eprintln!(
        "phase 2: one ListEvaluations per tenant, {} in flight",
        a.request_concurrency
    );
    let sampler = Sampler::start(platform, &like).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let done = AtomicUsize::new(0);
    let t0 = Instant::now();
    let req_lat: Vec<Result<Duration>> = futures::stream::iter(ids.iter().map(|id| {
        let mut c = evaluations.clone();
        let (op, done) = (&op, &done);
        async move {
            let t = Instant::now();
            c.list_evaluations(authed(
                op,
                apb::ListEvaluationsRequest {
                    parent: format!("tenants/{id}"),
                    ..Default::default()
                },
            )?)
            .await
            .with_context(|| format!("ListEvaluations {id}"))?;
            let d = t.elapsed();
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 100 == 0 {
                eprintln!("  {n} served, {:.1} s", t0.elapsed().as_secs_f64());
            }
            Ok(d)
        }
    }))
    .buffer_unordered(a.request_concurrency.max(1))
    .collect()
    .await;
    let requests_total = t0.elapsed();
    // The same request to tenants whose pool is still open (the last ones
    // served), to separate opening a tenant pool from serving the request.
    let max_pools = platform.dbs.stats().max_pools;
    let mut warm = Vec::new();
    for _ in 0..5 {
        for id in ids.iter().rev().take(max_pools.min(ids.len())) {
            let t = Instant::now();
            evaluations
                .clone()
                .list_evaluations(authed(
                    &op,
                    apb::ListEvaluationsRequest {
                        parent: format!("tenants/{id}"),
                        ..Default::default()
                    },
                )?)
                .await
                .with_context(|| format!("ListEvaluations {id} (warm)"))?;
            warm.push(t.elapsed());
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let p2 = sampler.finish().await?;
    let req_lat = req_lat.into_iter().collect::<Result<Vec<_>>>()?;
    let mem2 = mem();

    // Cold pool opens, same run: the tenant databases' first connection and
    // query with TLS (`sslmode=require`) and without (`sslmode=disable`).
    let cold = if a.cold_samples > 0 {
        let mut both = vec![];
        for mode in ["require", "disable"] {
            let mut url = url::Url::parse(&server_url())?;
            url.query_pairs_mut().append_pair("sslmode", mode);
            let backend = kompass_tenant_db::Backend::postgres(&std::collections::BTreeMap::from(
                [("primary".to_string(), url.to_string())],
            ))?;
            eprintln!("cold pools: {} opens, sslmode={mode}", a.cold_samples);
            let mut v = vec![];
            for id in ids.iter().take(a.cold_samples) {
                let p = kompass_tenant_db::Placement {
                    server: "primary".into(),
                    database: format!("{}{}", env.prefix, id),
                };
                let t = Instant::now();
                let db = backend.connect(&p, 1, Duration::from_secs(5)).await?;
                db.execute_unprepared("SELECT 1").await?;
                v.push(t.elapsed());
                db.close().await.ok();
            }
            both.push(stats(v));
        }
        let off = both.pop().expect("disable");
        let on = both.pop().expect("require");
        Some((on, off))
    } else {
        None
    };

    // How much of onboarding is the server's CREATE DATABASE alone, with the
    // tenant databases present (names under the prefix, so cleanup drops them).
    let probe = if a.probe_creates > 0 {
        eprintln!("probe: {} bare CREATE DATABASE", a.probe_creates);
        let mut v = Vec::new();
        for i in 0..a.probe_creates {
            let t = Instant::now();
            env.admin
                .execute_unprepared(&format!("CREATE DATABASE \"{}probe{i:03}\"", env.prefix))
                .await?;
            v.push(t.elapsed());
        }
        Some(stats(v))
    } else {
        None
    };

    Ok(Report {
        pg_version,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        onboard: stats(lat),
        onboard_total,
        databases,
        probe,
        template_build,
        provisioned,
        cold,
        requests: stats(req_lat),
        requests_total,
        warm: stats(warm),
        p1,
        p2,
        max_pools,
        mem0,
        mem1,
        mem2,
    })
}

fn print(a: &OnboardingArgs, r: &Report) {
    let n = a.tenants;
    let o = &r.onboard;
    let q = &r.requests;
    println!();
    println!("Command: `{}`", a.command());
    println!();
    println!(
        "Machine: {} cores, PostgreSQL {} on 127.0.0.1; all four services in the benchmark process.",
        r.cores, r.pg_version
    );
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!(
        "| Onboarding (CreateTenant), median | {} | < 100 ms |",
        ms(o.median)
    );
    println!(
        "| Onboarding p90 / p99 / max | {} / {} / {} | p99 < 200 ms |",
        ms(o.p90),
        ms(o.p99),
        ms(o.max)
    );
    match r.template_build {
        Some(d) => println!(
            "| Template built first (create + migrate, as `kompass migrate` does) | {} | |",
            ms(d)
        ),
        None => println!("| Template | none (`--no-template`) | |"),
    }
    println!(
        "| Tenant databases copied from the template / created and migrated | {} / {} | |",
        r.provisioned.0, r.provisioned.1
    );
    println!(
        "| Onboarding total, {n} tenants, {} at a time | {:.1} s ({:.1} tenants/s) | |",
        a.concurrency,
        r.onboard_total.as_secs_f64(),
        n as f64 / r.onboard_total.as_secs_f64()
    );
    println!(
        "| Tenant databases on the server afterwards (the template not counted) | {} | {n} |",
        r.databases
    );
    if let Some(p) = &r.probe {
        println!(
            "| Bare CREATE DATABASE with {n} present ({} probes), median / max | {} / {} | |",
            a.probe_creates,
            ms(p.median),
            ms(p.max)
        );
    }
    println!(
        "| Peak tenant connections during onboarding | {} | ≤ {} |",
        r.p1.peak, a.cap
    );
    println!(
        "| Request (ListEvaluations, one per tenant, {} in flight, opens its pool), median / p99 / max | {} / {} / {} | |",
        a.request_concurrency,
        ms(q.median),
        ms(q.p99),
        ms(q.max)
    );
    println!(
        "| Requests total, {n} tenants | {:.1} s | |",
        r.requests_total.as_secs_f64()
    );
    println!(
        "| Same request, tenant pool already open, median / p99 | {} / {} | |",
        ms(r.warm.median),
        ms(r.warm.p99)
    );
    if let Some((tls, plain)) = &r.cold {
        println!(
            "| Cold pool open (connect + first query, {} tenants), sslmode=require: p50 / p99 | {} / {} | |",
            a.cold_samples,
            ms(tls.median),
            ms(tls.p99)
        );
        println!(
            "| Same, sslmode=disable: p50 / p99 | {} / {} | |",
            ms(plain.median),
            ms(plain.p99)
        );
    }
    println!(
        "| Peak tenant connections while serving ({} samples) | {} | ≤ {} |",
        r.p2.samples, r.p2.peak, a.cap
    );
    println!(
        "| Peak open tenant pools (registry) | {} | ≤ {} ({} / {}) |",
        r.p2.peak_pools.max(r.p1.peak_pools),
        r.max_pools,
        a.cap,
        a.pool_size
    );
    println!(
        "| CPU time of the process: onboarding / serving | {:.1} s / {:.1} s | |",
        (r.mem1.cpu.saturating_sub(r.mem0.cpu)).as_secs_f64(),
        (r.mem2.cpu.saturating_sub(r.mem1.cpu)).as_secs_f64()
    );
    println!(
        "| RSS: start / after onboarding / after serving | {} / {} / {} | < 200 MB |",
        mb(r.mem0.rss_kb),
        mb(r.mem1.rss_kb),
        mb(r.mem2.rss_kb)
    );
    println!(
        "| Peak RSS (VmHWM): start / after onboarding / after serving | {} / {} / {} | < 200 MB |",
        mb(r.mem0.hwm_kb),
        mb(r.mem1.hwm_kb),
        mb(r.mem2.hwm_kb)
    );
}

/// Drops every database this run made: tenants (by prefix) and the catalog.
async fn cleanup(env: &Env) -> Result<()> {
    let like = like_prefix(&env.prefix);
    let rows = env
        .admin
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            [like.into()],
        ))
        .await?;
    let mut names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "datname"))
        .collect::<Result<Vec<_>, _>>()?;
    names.push(env.catalog_db.clone());
    eprintln!("cleanup: dropping {} databases", names.len());
    let mut failed = 0;
    for db in names {
        // The onboarding template cannot be dropped while marked one.
        env.admin
            .execute_unprepared(&format!("ALTER DATABASE \"{db}\" WITH IS_TEMPLATE false"))
            .await
            .ok();
        if let Err(e) = env
            .admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .await
        {
            eprintln!("  dropping {db}: {e}");
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} databases could not be dropped");
    }
    Ok(())
}

async fn onboarding(a: OnboardingArgs) -> Result<bool> {
    let (env, _) = Env::create().await?;
    let res = tokio::select! {
        r = run(&a, &env) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let cleaned = cleanup(&env).await;
    env.admin.close().await.ok();
    let report = res?;
    cleaned?;
    print(&a, &report);
    let over = report.p1.peak.max(report.p2.peak) > i64::from(a.cap);
    if over {
        eprintln!(
            "FAIL: peak tenant connections {} above the cap {}",
            report.p1.peak.max(report.p2.peak),
            a.cap
        );
    }
    Ok(!over)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let ok = match cli.cmd {
        Cmd::Onboarding(a) => onboarding(a).await?,
        Cmd::ProjectLoad(a) => projects::project_load(a).await?,
        Cmd::Scoring(a) => scoring::scoring(a).await?,
        Cmd::Comparison(a) => comparison::comparison(a).await?,
        Cmd::Console(a) => console::console(a).await?,
        Cmd::Documents(a) => {
            documents::run(a)?;
            true
        }
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
