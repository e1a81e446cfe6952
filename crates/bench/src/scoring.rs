//! `scoring`: individual score writes through gRPC (auth, tenant lookup,
//! optimistic concurrency, audit) by concurrent evaluator clients, against
//! the same write sent straight to PostgreSQL in the same run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use kompass_config::{Config, ServiceKind};
use kompass_core::TenantId;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::scoring_service_client::ScoringServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use kompass_serve::{Platform, Running};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use tokio::sync::Mutex;

use crate::{
    Env, SECRET, Stats, authed, channel, cleanup, ms, new_tenant, server_url, stats, with_db,
};

#[derive(Args, Clone)]
pub struct ScoringArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Score writes per scenario and path.
    #[arg(long, default_value_t = 3000)]
    pub writes: usize,
    /// Tenants in the wide scenario (the narrow one is always 1).
    #[arg(long, default_value_t = 100)]
    pub tenants: usize,
}

impl ScoringArgs {
    fn command(&self) -> String {
        format!(
            "cargo run --release -p kompass-bench -- scoring --clients {} --writes {} --tenants {}",
            self.clients, self.writes, self.tenants
        )
    }
}

fn token(sub: &str, roles: &[&str]) -> String {
    kompass_auth::mint_hs256(
        SECRET,
        &kompass_auth::Claims::new("kompass", "kompass", sub, roles, Duration::from_secs(7200)),
    )
}

const QUESTIONS: [&str; 45] = [
    "1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "2.3", "2.4", "2.5", "3.1", "3.2", "3.3",
    "3.4", "3.5", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "5.1", "5.2", "5.3", "5.4", "5.5",
    "5.6", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "7.1", "7.2", "7.3", "7.4", "7.5", "8.1",
    "8.2", "8.3", "8.4", "8.5", "8.6", "8.7",
];

/// (tenant, evaluation name) prepared in the scoring state with `eva` as lead.
async fn prepare(running: &Running, tenants: &[String]) -> Result<Vec<(String, String)>> {
    let op = token("operator", &["operator"]);
    let eva = token("eva", &["evaluator"]);
    let tch = channel(running, ServiceKind::Tenancy).await?;
    let ach = channel(running, ServiceKind::Assessment).await?;
    let mut out = vec![];
    for t in tenants {
        TenantServiceClient::new(tch.clone())
            .create_tenant(authed(&op, new_tenant(t))?)
            .await?;
        let mut ev = EvaluationServiceClient::new(ach.clone());
        let e = ev
            .create_evaluation(authed(
                &op,
                apb::CreateEvaluationRequest {
                    parent: format!("tenants/{t}"),
                    evaluation: Some(apb::Evaluation {
                        title: "Bench".into(),
                        kind: apb::EvaluationKind::External as i32,
                        ..Default::default()
                    }),
                },
            )?)
            .await?
            .into_inner();
        ev.create_assignment(authed(
            &op,
            apb::CreateAssignmentRequest {
                parent: e.name.clone(),
                assignment: Some(apb::Assignment {
                    user: "users/eva".into(),
                    role: apb::EvaluatorRole::Lead as i32,
                    ..Default::default()
                }),
            },
        )?)
        .await?;
        let mut etag = e.etag;
        for s in [
            apb::evaluation::State::Fieldwork,
            apb::evaluation::State::Scoring,
        ] {
            etag = ev
                .transition_evaluation(authed(
                    &eva,
                    apb::TransitionEvaluationRequest {
                        name: e.name.clone(),
                        to_state: s as i32,
                        etag,
                        reason: String::new(),
                    },
                )?)
                .await?
                .into_inner()
                .etag;
        }
        out.push((t.clone(), e.name));
    }
    Ok(out)
}

struct PathResult {
    stats: Stats,
    wall: Duration,
    errors: usize,
}

/// Work keys (evaluation, question) split so no two clients touch one key.
fn keys(evals: &[(String, String)]) -> Vec<(usize, &'static str)> {
    (0..evals.len())
        .flat_map(|e| QUESTIONS.iter().map(move |q| (e, *q)))
        .collect()
}

async fn grpc_path(
    a: &ScoringArgs,
    running: &Running,
    evals: &[(String, String)],
) -> Result<(PathResult, BTreeMap<(usize, &'static str), i64>)> {
    let eva = token("eva", &["evaluator"]);
    let keys = keys(evals);
    let per_client = a.writes / a.clients;
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let start = Instant::now();
    let mut tasks = vec![];
    for c in 0..a.clients {
        let ch = channel(running, ServiceKind::Assessment).await?;
        let mine: Vec<_> = keys.iter().copied().skip(c).step_by(a.clients).collect();
        let evals = evals.to_vec();
        let eva = eva.clone();
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let mut sc = ScoringServiceClient::new(ch);
            let mut etags: BTreeMap<(usize, &str), String> = BTreeMap::new();
            let mut lat = vec![];
            let mut errors = 0;
            for i in 0..per_client {
                let key = mine[i % mine.len()];
                let points = format!("{}.{:02}", i % 10, i % 100);
                let req = apb::UpdateScoreRequest {
                    score: Some(apb::Score {
                        name: format!("{}/scores/{}", evals[key.0].1, key.1),
                        points,
                        etag: etags.get(&key).cloned().unwrap_or_default(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["points".into()],
                    }),
                };
                let t0 = Instant::now();
                match sc.update_score(authed(&eva, req).expect("token")).await {
                    Ok(r) => {
                        lat.push(t0.elapsed());
                        etags.insert(key, r.into_inner().etag);
                        *counts.lock().await.entry(key).or_insert(0) += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("grpc write failed: {e}");
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = vec![];
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let wall = start.elapsed();
    let counts = Arc::try_unwrap(counts)
        .map_err(|_| anyhow::anyhow!("counts"))?
        .into_inner();
    Ok((
        PathResult {
            stats: stats(lat),
            wall,
            errors,
        },
        counts,
    ))
}

/// A write sent straight to PostgreSQL, without the service.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direct {
    /// One `INSERT … ON CONFLICT DO UPDATE`: the floor.
    Upsert,
    /// The transaction the service used to run: read, conditional update,
    /// audit row.
    Transaction,
    /// The service's own single statement (`kompass_assessment::store`).
    Statement,
}

/// The same write straight to PostgreSQL (through the same capped pool
/// registry, so the connection budget is equal).
async fn direct_path(
    a: &ScoringArgs,
    platform: &Platform,
    evals: &[(String, String)],
    kind: Direct,
) -> Result<PathResult> {
    let keys = keys(evals);
    let per_client = a.writes / a.clients;
    let start = Instant::now();
    let mut tasks = vec![];
    for c in 0..a.clients {
        let mine: Vec<_> = keys.iter().copied().skip(c).step_by(a.clients).collect();
        let evals = evals.to_vec();
        let dir = platform.directory();
        let who = match kind {
            Direct::Upsert => "direct",
            Direct::Transaction => "direct_tx",
            Direct::Statement => "direct_stmt",
        };
        tasks.push(tokio::spawn(async move {
            // Placement looked up once, outside the timing: the baseline is
            // the statements alone.
            let mut placements = BTreeMap::new();
            for (tenant, _) in &evals {
                let t = TenantId::parse(tenant).expect("valid");
                let p = dir.catalog.placement(&t).await.expect("placement");
                placements.insert(tenant.clone(), (t, p));
            }
            let mut lat = vec![];
            let mut errors = 0;
            let mut versions: BTreeMap<(usize, &str), i64> = BTreeMap::new();
            for i in 0..per_client {
                let key = mine[i % mine.len()];
                let (tenant, name) = &evals[key.0];
                let eval_id = name.rsplit('/').next().unwrap_or_default().to_string();
                let t0 = Instant::now();
                let res: Result<()> = async {
                    let (t, p) = &placements[tenant];
                    let db = dir.dbs.get(t, p).await?;
                    let now = chrono::Utc::now();
                    if kind == Direct::Statement {
                        let v = versions.entry(key).or_insert(0);
                        let target = format!("{name}/scores/{}", key.1);
                        let update = kompass_assessment::store::score::ScoreUpdate {
                            evaluation_id: &eval_id,
                            question_id: key.1,
                            evaluator_id: who,
                            points_centi: Some(Some(i as i64 % 1000)),
                            comment: None,
                            expected_version: Some(*v),
                            actor: who,
                            target: &target,
                            now,
                        };
                        match kompass_assessment::store::score::write_one_statement(&*db, &update).await? {
                            kompass_assessment::store::score::Outcome::Written(w) => *v = w.version,
                            _ => bail!("the statement wrote nothing"),
                        }
                    } else if kind == Direct::Transaction {
                        let tx = db.begin().await?;
                        let cur = tx
                            .query_one_raw(Statement::from_sql_and_values(
                                DbBackend::Postgres,
                                "SELECT version FROM scores WHERE evaluation_id = $1 AND question_id = $2 AND evaluator_id = $3",
                                [eval_id.clone().into(), key.1.into(), who.into()],
                            ))
                            .await?;
                        match cur {
                            Some(r) => {
                                let v: i64 = r.try_get("", "version")?;
                                tx.execute_raw(Statement::from_sql_and_values(
                                    DbBackend::Postgres,
                                    "UPDATE scores SET points_centi = $1, version = $2, updated_at = $3 WHERE evaluation_id = $4 AND question_id = $5 AND evaluator_id = $6 AND version = $7",
                                    [(i as i64 % 1000).into(), (v + 1).into(), now.into(), eval_id.clone().into(), key.1.into(), who.into(), v.into()],
                                ))
                                .await?;
                            }
                            None => {
                                tx.execute_raw(Statement::from_sql_and_values(
                                    DbBackend::Postgres,
                                    "INSERT INTO scores (evaluation_id, question_id, evaluator_id, points_centi, comment, evidence, version, updated_at) VALUES ($1, $2, $3, $4, '', '[]', 1, $5)",
                                    [eval_id.clone().into(), key.1.into(), who.into(), (i as i64 % 1000).into(), now.into()],
                                ))
                                .await?;
                            }
                        }
                        tx.execute_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            "INSERT INTO audit_events (evaluation_id, actor, time, subject, target, old_value, new_value, reason) VALUES ($1, $2, $3, 'score', $4, '', '', '')",
                            [eval_id.clone().into(), who.into(), now.into(), key.1.into()],
                        ))
                        .await?;
                        tx.commit().await?;
                    } else {
                        db.execute_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            "INSERT INTO scores (evaluation_id, question_id, evaluator_id, points_centi, comment, evidence, version, updated_at) VALUES ($1, $2, $3, $4, '', '[]', 1, $5) \
                             ON CONFLICT (evaluation_id, question_id, evaluator_id) DO UPDATE SET points_centi = EXCLUDED.points_centi, version = scores.version + 1, updated_at = EXCLUDED.updated_at",
                            [eval_id.clone().into(), key.1.into(), who.into(), (i as i64 % 1000).into(), now.into()],
                        ))
                        .await?;
                    }
                    Ok(())
                }
                .await;
                match res {
                    Ok(()) => lat.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("direct write failed: {e}");
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = vec![];
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    Ok(PathResult {
        stats: stats(lat),
        wall: start.elapsed(),
        errors,
    })
}

/// Lost updates: every acknowledged write must show in the row's version.
async fn lost_updates(
    platform: &Platform,
    evals: &[(String, String)],
    counts: &BTreeMap<(usize, &'static str), i64>,
) -> Result<i64> {
    let dir = platform.directory();
    let mut lost = 0;
    for (i, (tenant, name)) in evals.iter().enumerate() {
        let t = TenantId::parse(tenant)?;
        let db = dir.dbs.get(&t, &dir.catalog.placement(&t).await?).await?;
        let eval_id = name.rsplit('/').next().unwrap_or_default().to_string();
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT question_id, version FROM scores WHERE evaluation_id = $1 AND evaluator_id = 'eva'",
                [eval_id.into()],
            ))
            .await?;
        let versions: BTreeMap<String, i64> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String>("", "question_id")?,
                    r.try_get::<i64>("", "version")?,
                ))
            })
            .collect::<Result<_>>()?;
        for ((e, q), n) in counts.iter().filter(|((e, _), _)| *e == i) {
            let _ = e;
            lost += (n - versions.get(*q).copied().unwrap_or(0)).abs();
        }
    }
    Ok(lost)
}

struct Scenario {
    tenants: usize,
    grpc: PathResult,
    upsert: PathResult,
    tx: PathResult,
    stmt: PathResult,
    lost: i64,
}

async fn run(a: &ScoringArgs, env: &Env) -> Result<Vec<Scenario>> {
    let catalog_url = with_db(&server_url(), &env.catalog_db);
    kompass_serve::migrate_platform(&catalog_url).await?;
    let mut cfg = Config::default();
    cfg.database.url = Some(catalog_url);
    cfg.database.tenant_db_prefix = env.prefix.clone();
    cfg.database.max_connections = 40;
    cfg.database.pool_size = 4;
    cfg.auth.jwt_secret = Some(SECRET.into());
    // Every service in this one process: invalidations stay in it.
    cfg.auth.access_cache = kompass_config::AccessCacheMode::Process;
    // Roles come from the catalog: `operator` is the first operator.
    cfg.auth.bootstrap_operator = Some("operator".into());
    let platform = Platform::open(cfg).await?;
    let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0).await?;
    let res = async {
        let op = token("operator", &["operator"]);
        UserServiceClient::new(channel(&running, ServiceKind::Tenancy).await?)
            .create_user(authed(
                &op,
                tpb::CreateUserRequest {
                    user_id: "eva".into(),
                    user: Some(tpb::User {
                        email: "eva@example.se".into(),
                        display_name: "Eva".into(),
                        platform_roles: vec![tpb::PlatformRole::Evaluator as i32],
                        ..Default::default()
                    }),
                },
            )?)
            .await?;
        let mut out = vec![];
        let mut made = 0;
        for n in [1, a.tenants] {
            let ids: Vec<String> = (made..made + n).map(|i| format!("s{i:04}")).collect();
            made += n;
            eprintln!("preparing {n} tenant(s)");
            let evals = prepare(&running, &ids).await?;
            eprintln!("gRPC path, {n} tenant(s)");
            let (grpc, counts) = grpc_path(a, &running, &evals).await?;
            eprintln!("direct paths, {n} tenant(s)");
            let upsert = direct_path(a, &platform, &evals, Direct::Upsert).await?;
            let tx = direct_path(a, &platform, &evals, Direct::Transaction).await?;
            let stmt = direct_path(a, &platform, &evals, Direct::Statement).await?;
            let lost = lost_updates(&platform, &evals, &counts).await?;
            out.push(Scenario {
                tenants: n,
                grpc,
                upsert,
                tx,
                stmt,
                lost,
            });
        }
        Ok::<_, anyhow::Error>(out)
    }
    .await;
    running.shutdown().await;
    platform.dbs.close_all().await;
    res
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "–".into();
    }
    format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64())
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:.0}/s", n as f64 / d.as_secs_f64().max(1e-9))
}

pub async fn scoring(a: ScoringArgs) -> Result<bool> {
    let (env, _) = Env::create().await?;
    let res = run(&a, &env).await;
    let cleaned = cleanup(&env).await;
    env.admin.close().await.ok();
    let scenarios = res?;
    cleaned?;
    println!("\n`{}`\n", a.command());
    println!("| tenants | path | writes/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");
    for s in &scenarios {
        let n = a.writes / a.clients * a.clients;
        for (label, p) in [
            ("gRPC UpdateScore (auth, etag, audit)", &s.grpc),
            ("direct: one upsert statement", &s.upsert),
            (
                "direct: the previous transaction (select, update, audit)",
                &s.tx,
            ),
            (
                "direct: the service's statement (lock, check, upsert, audit)",
                &s.stmt,
            ),
        ] {
            println!(
                "| {} | {label} | {} | {} | {} | {} |",
                s.tenants,
                rate(n - p.errors, p.wall),
                ms(p.stats.median),
                ms(p.stats.p99),
                p.errors
            );
        }
        println!(
            "| {} | **ratio p50** gRPC / upsert; gRPC / statement; gRPC / previous transaction | | {} ; {} ; {} | | lost updates: {} |",
            s.tenants,
            ratio(s.grpc.stats.median, s.upsert.stats.median),
            ratio(s.grpc.stats.median, s.stmt.stats.median),
            ratio(s.grpc.stats.median, s.tx.stats.median),
            s.lost
        );
    }
    let ok = scenarios.iter().all(|s| s.lost == 0 && s.grpc.errors == 0);
    if !ok {
        bail!("lost updates or failed writes");
    }
    Ok(ok)
}
