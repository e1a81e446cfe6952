//! `project-load`: time to load a full project over gRPC (GetProject with
//! PROJECT_VIEW_FULL: plan, 50 milestones, 300 activities, 40 risks, 24 status
//! reports) and the SQL statements each load costs, as reported by the
//! service's statement counter (`x-kompass-sql-statements`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use kompass_auth::{Claims, mint_hs256};
use kompass_config::{Config, ServiceKind};
use kompass_proto::projects::v1 as pb;
use kompass_proto::projects::v1::project_service_client::ProjectServiceClient;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_serve::Platform;
use prost::Message;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Env, SECRET, authed, channel, cleanup, ms, new_tenant, pct, server_url, with_db};

#[derive(Args, Clone)]
pub struct ProjectLoadArgs {
    /// Milestones in the project.
    #[arg(long, default_value_t = 50)]
    milestones: usize,
    /// Activities in all (spread evenly over the milestones).
    #[arg(long, default_value_t = 300)]
    activities: usize,
    /// Risks.
    #[arg(long, default_value_t = 40)]
    risks: usize,
    /// Status reports.
    #[arg(long, default_value_t = 24)]
    reports: usize,
    /// Timed loads (after 20 untimed warm-up loads).
    #[arg(long, default_value_t = 300)]
    iterations: usize,
}

fn goal(i: usize) -> pb::Goal {
    pb::Goal {
        title: format!("Resultatmål {i}"),
        indicator: "Andel ärenden med återkoppling inom 5 dagar".into(),
        baseline: "40 %".into(),
        target: "80 %".into(),
        target_date: "2027-12-31".into(),
        sub_goals: (0..2)
            .map(|j| pb::Goal {
                title: format!("Delmål {i}.{j}"),
                indicator: "Antal utbildade chefer".into(),
                baseline: "0".into(),
                target: "25".into(),
                target_date: "2027-06-30".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn fill(
    c: &mut ProjectServiceClient<tonic::transport::Channel>,
    tok: &str,
    a: &ProjectLoadArgs,
) -> Result<String> {
    let p = c
        .create_project(authed(
            tok,
            pb::CreateProjectRequest {
                parent: "tenants/ostra".into(),
                project: Some(pb::Project {
                    title: "Bemötande och tillgänglighet".into(),
                    start_date: "2026-01-01".into(),
                    end_date: "2028-12-31".into(),
                    plan: Some(pb::Plan {
                        background: "Kommunkompassen visade brister i bemötande. ".repeat(20),
                        purpose: "Bättre bemötande i alla förvaltningar.".into(),
                        effect_goal: "Invånarna upplever ett gott bemötande.".into(),
                        result_goals: (1..=5).map(goal).collect(),
                        strategies: vec!["Lärande nätverk".into(); 5],
                        delimitations: vec!["Gäller inte bolagen".into(); 3],
                        prerequisites: vec!["Beslut i kommunstyrelsen".into(); 3],
                        budget_lines: (0..10)
                            .map(|i| pb::BudgetLine {
                                description: format!("Post {i}"),
                                amount: format!("{}.50", 10_000 * (i + 1)),
                                currency: pb::Currency::Sek as i32,
                                funder: "Kommunstyrelsen".into(),
                            })
                            .collect(),
                    }),
                    organisation: Some(pb::Organisation {
                        project_manager: Some(pb::Person {
                            user: "users/operator".into(),
                            ..Default::default()
                        }),
                        steering_group: (0..5)
                            .map(|i| pb::Person {
                                display_name: format!("Ledamot {i}"),
                                role: "ledamot".into(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }),
                    communications: (0..10)
                        .map(|i| pb::Communication {
                            measure: format!("Åtgärd {i}"),
                            target_group: "Medarbetare".into(),
                            when: format!("vecka {}", i + 10),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
            },
        )?)
        .await?
        .into_inner();
    let per = a.activities.div_ceil(a.milestones.max(1));
    let mut left = a.activities;
    let mut milestones = vec![];
    for i in 0..a.milestones {
        let m = c
            .create_milestone(authed(
                tok,
                pb::CreateMilestoneRequest {
                    parent: p.name.clone(),
                    milestone: Some(pb::Milestone {
                        title: format!("Milstolpe {}", i + 1),
                        description: "Beskrivning av milstolpen.".into(),
                        due_date: format!("2027-{:02}-15", i % 12 + 1),
                        responsible: "users/operator".into(),
                        ..Default::default()
                    }),
                },
            )?)
            .await?
            .into_inner();
        for j in 0..per.min(left) {
            c.create_activity(authed(
                tok,
                pb::CreateActivityRequest {
                    parent: m.name.clone(),
                    activity: Some(pb::Activity {
                        title: format!("Aktivitet {}.{}", i + 1, j + 1),
                        due_date: format!("2027-{:02}-01", i % 12 + 1),
                        responsible: "Handläggare".into(),
                        status: (j % 4 + 1) as i32,
                        ..Default::default()
                    }),
                },
            )?)
            .await?;
        }
        left -= per.min(left);
        milestones.push(m.name);
    }
    for i in 0..a.risks {
        c.create_risk(authed(
            tok,
            pb::CreateRiskRequest {
                parent: p.name.clone(),
                risk: Some(pb::Risk {
                    title: format!("Risk {i}"),
                    description: "Beskrivning av risken.".into(),
                    probability: (i % 3 + 1) as i32,
                    consequence: (i / 3 % 3 + 1) as i32,
                    mitigations: vec!["Följ upp i styrgruppen".into(), "Extra resurser".into()],
                    owner: "users/operator".into(),
                    ..Default::default()
                }),
            },
        )?)
        .await?;
    }
    let goals: Vec<String> = p
        .plan
        .as_ref()
        .map(|pl| {
            pl.result_goals
                .iter()
                .flat_map(|g| {
                    std::iter::once(g.id.clone()).chain(g.sub_goals.iter().map(|s| s.id.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    for i in 0..a.reports {
        c.create_status_report(authed(
            tok,
            pb::CreateStatusReportRequest {
                parent: p.name.clone(),
                status_report: Some(pb::StatusReport {
                    period: format!("{}-{:02}", 2026 + i / 12, i % 12 + 1),
                    light: (i % 4 + 1) as i32,
                    summary: "Arbetet går enligt plan med vissa förseningar.".into(),
                    milestones: milestones
                        .iter()
                        .map(|m| pb::MilestoneReport {
                            milestone: m.clone(),
                            light: pb::TrafficLight::Green as i32,
                            comment: "Enligt plan".into(),
                            ..Default::default()
                        })
                        .collect(),
                    goals: goals
                        .iter()
                        .map(|g| pb::GoalReport {
                            goal_id: g.clone(),
                            light: pb::TrafficLight::Yellow as i32,
                            comment: "60 %".into(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
            },
        )?)
        .await?;
    }
    Ok(p.name)
}

struct Measured {
    pg_version: String,
    median: Duration,
    p99: Duration,
    min: Duration,
    statements: Vec<u64>,
    bytes: usize,
    basic_statements: u64,
}

async fn measure(a: &ProjectLoadArgs, env: &Env) -> Result<Measured> {
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
    kompass_serve::migrate_platform(&catalog_url).await?;
    let mut cfg = Config::default();
    cfg.database.url = Some(catalog_url);
    cfg.database.tenant_db_prefix = env.prefix.clone();
    cfg.auth.jwt_secret = Some(SECRET.into());
    // Roles come from the catalog: `operator` is the first operator.
    cfg.auth.bootstrap_operator = Some("operator".into());
    let platform = Platform::open(cfg).await?;
    let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0).await?;
    let res = async {
        let op = mint_hs256(
            SECRET,
            &Claims::new(
                "kompass",
                "kompass",
                "operator",
                &["operator"],
                Duration::from_secs(3600),
            ),
        );
        TenantServiceClient::new(channel(&running, ServiceKind::Tenancy).await?)
            .create_tenant(authed(&op, new_tenant("ostra"))?)
            .await?;
        let mut c = ProjectServiceClient::new(channel(&running, ServiceKind::Projects).await?)
            .max_decoding_message_size(64 << 20);
        let t = Instant::now();
        let name = fill(&mut c, &op, a).await?;
        eprintln!("project filled in {}", ms(t.elapsed()));
        let req = |view: pb::ProjectView| {
            authed(
                &op,
                pb::GetProjectRequest {
                    name: name.clone(),
                    view: view as i32,
                },
            )
        };
        let header = |r: &tonic::Response<pb::Project>| -> Result<u64> {
            Ok(r.metadata()
                .get("x-kompass-sql-statements")
                .context("no statement count")?
                .to_str()?
                .parse()?)
        };
        let basic = c.get_project(req(pb::ProjectView::Basic)?).await?;
        let basic_statements = header(&basic)?;
        for _ in 0..20 {
            c.get_project(req(pb::ProjectView::Full)?).await?;
        }
        let mut times = vec![];
        let mut statements = vec![];
        let mut bytes = 0;
        for _ in 0..a.iterations {
            let t = Instant::now();
            let r = c.get_project(req(pb::ProjectView::Full)?).await?;
            times.push(t.elapsed());
            statements.push(header(&r)?);
            let p = r.into_inner();
            if p.milestones.len() != a.milestones
                || p.milestones
                    .iter()
                    .map(|m| m.activities.len())
                    .sum::<usize>()
                    != a.activities
                || p.risks.len() != a.risks
                || p.status_reports.len() != a.reports
            {
                bail!("the loaded project is incomplete");
            }
            bytes = p.encoded_len();
        }
        times.sort();
        statements.sort();
        statements.dedup();
        Ok(Measured {
            pg_version,
            median: pct(&times, 0.5),
            p99: pct(&times, 0.99),
            min: times[0],
            statements,
            bytes,
            basic_statements,
        })
    }
    .await;
    running.shutdown().await;
    platform.dbs.close_all().await;
    platform.catalog.db().clone().close().await.ok();
    res
}

pub async fn project_load(a: ProjectLoadArgs) -> Result<bool> {
    let (env, _) = Env::create().await?;
    let res = measure(&a, &env).await;
    let cleaned = cleanup(&env).await;
    env.admin.close().await.ok();
    let m = res?;
    cleaned?;
    println!(
        "cargo run --release -p kompass-bench -- project-load --milestones {} --activities {} --risks {} --reports {} --iterations {}",
        a.milestones, a.activities, a.risks, a.reports, a.iterations
    );
    println!();
    println!(
        "PostgreSQL {}, {} cores",
        m.pg_version,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| GetProject FULL, median | {} |", ms(m.median));
    println!("| GetProject FULL, p99 | {} |", ms(m.p99));
    println!("| GetProject FULL, fastest | {} |", ms(m.min));
    println!("| response size | {} KiB |", m.bytes / 1024);
    println!(
        "| SQL statements per FULL load | {} |",
        m.statements
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| SQL statements per BASIC load | {} |", m.basic_statements);
    Ok(m.statements.len() == 1 && m.statements[0] <= 8)
}
