//! `comparison`: the national comparison from the reporting read model
//! (cached and cold) against the same figures computed by querying every
//! tenant database at request time, in the same run; and the PDF export of
//! one full report. See docs/benchmarks.md.
//!
//! Setup, not measured: tenant `t00000` is onboarded through the real
//! `CreateTenant`; every other tenant database is `CREATE DATABASE … TEMPLATE`
//! of its (still empty, fully migrated) database, and its catalog row is
//! inserted the way onboarding records it (active, `primary` server,
//! `{prefix}{id}`), since 1,000 onboardings take ~7 minutes. Each published
//! evaluation is written twice from one deterministic description: into the
//! tenant's own database (evaluation row in state `published` with its sealed
//! canonical content, agreed scores) and, as an `evaluation.published` event,
//! through the reporting consumer's own handler into the read model.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use clap::Args;
use futures::StreamExt;
use kompass_catalog::entity::tenant;
use kompass_config::{Config, ServiceKind};
use kompass_core::TenantId;
use kompass_frameworks::Framework;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_reporting::store::{self, EvalRow, PUBLISHED_TOPIC};
use kompass_serve::{Platform, Running};
use kompass_tenant_db::{Backend, Placement};
use prost::Message;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement, TransactionTrait, Value,
};
use tonic::transport::Channel;

use crate::{Env, SECRET, Stats, authed, channel, cleanup, ms, server_url, stats, with_db};

const FW: &str = "frameworks/kommunkompassen/versions/2015";
const SERVER: &str = "primary";

#[derive(Args, Clone)]
pub struct ComparisonArgs {
    /// Tenants (each with its own database).
    #[arg(long, default_value_t = 1000)]
    pub tenants: usize,
    /// Published external evaluations per tenant (three years apart).
    #[arg(long, default_value_t = 3)]
    pub per_tenant: usize,
    /// Samples per variant for the cached and for the cold comparison.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Samples of the baseline (every tenant database queried).
    #[arg(long, default_value_t = 5)]
    pub baseline_samples: usize,
    /// Samples of the PDF export.
    #[arg(long, default_value_t = 30)]
    pub pdf_samples: usize,
    /// Cap on tenant-database connections (database.max_connections).
    #[arg(long, default_value_t = 40)]
    pub cap: u32,
    /// Connections per tenant pool (database.pool_size).
    #[arg(long, default_value_t = 2)]
    pub pool_size: u32,
    /// Redis for the comparison cache and the event bus, as deployed
    /// (keys under a per-run prefix, deleted at the end); empty: in process.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

impl ComparisonArgs {
    fn command(&self) -> String {
        let redis = if self.redis.is_empty() {
            " --redis ''".to_string()
        } else if self.redis != "redis://127.0.0.1:6379" {
            format!(" --redis {}", self.redis)
        } else {
            String::new()
        };
        format!(
            "cargo run --release -p kompass-bench -- comparison --tenants {} --per-tenant {} --samples {} --baseline-samples {} --pdf-samples {} --cap {} --pool-size {}{redis}",
            self.tenants,
            self.per_tenant,
            self.samples,
            self.baseline_samples,
            self.pdf_samples,
            self.cap,
            self.pool_size
        )
    }
}

pub(crate) fn token(sub: &str, roles: &[&str]) -> String {
    kompass_auth::mint_hs256(
        SECRET,
        &kompass_auth::Claims::new(
            "kompass",
            "kompass",
            sub,
            roles,
            Duration::from_secs(6 * 3600),
        ),
    )
}

// ---------------------------------------------------------------------------
// Deterministic data

/// splitmix64: the same data in every run and in both stores.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rnd(a: u64, b: u64, c: u64) -> u64 {
    mix(mix(mix(a) ^ b) ^ c)
}

#[derive(Clone)]
pub(crate) struct TenantSpec {
    pub(crate) id: String,
    pub(crate) display_name: String,
    country: tpb::Country,
    code: String,
    population: i64,
    pub(crate) named: bool,
}

fn country_str(c: tpb::Country) -> &'static str {
    match c {
        tpb::Country::No => "NO",
        tpb::Country::Dk => "DK",
        tpb::Country::Fi => "FI",
        _ => "SE",
    }
}

/// Half Swedish, the rest Norwegian, Danish and Finnish; populations
/// log-spread from ~1,000 to ~1,000,000; three in four agree to be named.
pub(crate) fn tenant_spec(i: usize) -> TenantSpec {
    let r = rnd(1, i as u64, 0);
    let country = match r % 100 {
        0..50 => tpb::Country::Se,
        50..70 => tpb::Country::No,
        70..85 => tpb::Country::Dk,
        _ => tpb::Country::Fi,
    };
    let code = match country {
        tpb::Country::Se | tpb::Country::No => format!("{:04}", 1000 + i % 9000),
        _ => format!("{:03}", 100 + i % 900),
    };
    let exp = (rnd(2, i as u64, 0) % 3000) as f64 / 1000.0; // 0..3
    TenantSpec {
        id: format!("t{i:05}"),
        display_name: format!("Kommun {i:04}"),
        country,
        code,
        population: (1000.0 * 10f64.powf(exp)) as i64,
        named: !rnd(3, i as u64, 0).is_multiple_of(4),
    }
}

/// (area, question, max in hundredths) of the built-in framework, in order.
pub(crate) fn questions(fw: &Framework) -> Vec<(String, String, i64)> {
    fw.questions()
        .map(|(a, q)| (a.id.clone(), q.id.clone(), store::centi(q.max_points)))
        .collect()
}

pub(crate) struct EvalSpec {
    tenant: usize,
    id: String,
    pub(crate) name: String,
    date: String,
    publish_time: DateTime<Utc>,
    /// Agreed points in hundredths, in framework order; each ≤ its maximum.
    points: Vec<i64>,
}

pub(crate) fn eval_specs(i: usize, n: usize, qs: &[(String, String, i64)]) -> Vec<EvalSpec> {
    let t = tenant_spec(i);
    let base_year = 2015 + (rnd(4, i as u64, 0) % 4) as i32;
    // A tenant's level (30–85 % of each maximum), a little better each time.
    let level = 3000 + (rnd(5, i as u64, 0) % 5500) as i64;
    (0..n)
        .map(|k| {
            let year = base_year + 3 * k as i32;
            let r = rnd(6, i as u64, k as u64);
            let month = 3 + (r % 9) as u32;
            let day = 1 + ((r >> 8) % 28) as u32;
            let date = NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
            let publish_time = Utc.from_utc_datetime(&date.and_hms_opt(12, 0, 0).expect("noon"))
                + chrono::Duration::days(45);
            let points = qs
                .iter()
                .enumerate()
                .map(|(j, (_, _, max))| {
                    let noise = (rnd(7, i as u64, (k * 100 + j) as u64) % 4001) as i64 - 2000;
                    let pct = (level + 300 * k as i64 + noise).clamp(0, 10_000);
                    max * pct / 10_000
                })
                .collect();
            let id = format!("e{year}x{i:05}");
            EvalSpec {
                tenant: i,
                name: format!("tenants/{}/evaluations/{id}", t.id),
                id,
                date: date.format("%Y-%m-%d").to_string(),
                publish_time,
                points,
            }
        })
        .collect()
}

fn points_str(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// The published content, with texts for every area (a full report).
fn content(fw: &Framework, e: &EvalSpec) -> apb::PublishedContent {
    let t = tenant_spec(e.tenant);
    let qs = questions(fw);
    let year = &e.date[..4];
    let areas = fw
        .areas
        .iter()
        .map(|a| {
            let area = a.name.sv.to_lowercase();
            let general = format!(
                "{name} har under {year} arbetat strukturerat med {area}. Ansvaret är tydligt \
                 fördelat mellan nämnder och förvaltningar, och uppföljningen sker två gånger \
                 per år med redovisning till kommunfullmäktige. Utvärderarna noterar att \
                 arbetet med {area} har utvecklats sedan föregående utvärdering men att \
                 kopplingen mellan mål, budget och resultat ännu inte är genomgående. \
                 Medborgarnas synpunkter tas tillvara genom dialogmöten och enkäter, och \
                 resultaten publiceras på kommunens webbplats.",
                name = t.display_name
            );
            apb::PublishedArea {
                area: a.id.clone(),
                general_text: general,
                heading_texts: a
                    .headings
                    .iter()
                    .enumerate()
                    .map(|(h, head)| apb::HeadingText {
                        heading: h as i32 + 1,
                        text: format!(
                            "{}: kommunen redovisar dokumenterade rutiner och mätbara mål. \
                             Förvaltningarna följer upp dem kvartalsvis och resultaten \
                             används i budgetarbetet; jämförelser med andra kommuner görs \
                             årligen.",
                            head.sv
                        ),
                    })
                    .collect(),
                strengths: vec![
                    format!("Tydlig styrning och uppföljning inom {area}."),
                    "Medborgardialoger i alla kommundelar, med återkoppling.".into(),
                ],
                improvement_opportunities: (1..=2)
                    .map(|p| apb::ImprovementOpportunity {
                        name: format!("{}/opportunities/o{p}", e.name),
                        area: a.id.clone(),
                        text: format!(
                            "Koppla målen inom {area} tydligare till budgeten och redovisa \
                             resultaten per verksamhet (förbättringsområde {p})."
                        ),
                        questions: a.questions.iter().take(1).map(|q| q.id.clone()).collect(),
                        position: p,
                        follows_up: String::new(),
                        create_time: None,
                        etag: String::new(),
                    })
                    .collect(),
            }
        })
        .collect();
    apb::PublishedContent {
        tenant: format!("tenants/{}", t.id),
        tenant_display_name: t.display_name.clone(),
        evaluation: e.name.clone(),
        title: format!("Kommunkompassen {year}"),
        kind: apb::EvaluationKind::External as i32,
        framework_version: FW.into(),
        evaluation_date: e.date.clone(),
        publish_time: Some(prost_types::Timestamp {
            seconds: e.publish_time.timestamp(),
            nanos: 0,
        }),
        imported: false,
        evaluators: vec![
            apb::PublishedEvaluator {
                user: "users/eva".into(),
                display_name: "Eva Lind".into(),
                role: apb::EvaluatorRole::Lead as i32,
            },
            apb::PublishedEvaluator {
                user: "users/olof".into(),
                display_name: "Olof Berg".into(),
                role: apb::EvaluatorRole::Peer as i32,
            },
        ],
        interview_count: 12,
        questions: qs
            .iter()
            .zip(&e.points)
            .map(|((a, q, max), p)| apb::PublishedQuestion {
                question: q.clone(),
                area: a.clone(),
                points: points_str(*p),
                max_points: (max / 100).to_string(),
            })
            .collect(),
        areas,
        totals: None,
        import_record: None,
    }
}

/// Canonical JSON, its SHA-256 and the event, as a publication makes them.
fn publication(fw: &Framework, e: &EvalSpec) -> (String, String, Vec<u8>) {
    let c = content(fw, e);
    let (canonical, digest) = kompass_seal::seal(&c);
    let ev = apb::EvaluationPublishedEvent {
        event_id: String::new(),
        content: Some(c),
        seal: Some(apb::Seal {
            algorithm: "SHA-256".into(),
            digest: digest.clone(),
            canonicalization: kompass_seal::CURRENT.into(),
            seal_time: Some(prost_types::Timestamp {
                seconds: e.publish_time.timestamp(),
                nanos: 0,
            }),
        }),
    };
    (canonical, digest, ev.encode_to_vec())
}

fn event_id(e: &EvalSpec) -> String {
    format!("bench-{}", e.id)
}

// ---------------------------------------------------------------------------
// Setup

pub(crate) struct Setup {
    template: Duration,
    clones: Stats,
    clones_total: Duration,
    catalog_rows: Duration,
    tenant_writes: Duration,
    feed: Stats,
    feed_total: Duration,
    read_model_evaluations: i64,
    read_model_texts: i64,
}

pub(crate) async fn setup(
    a: &ComparisonArgs,
    env: &Env,
    platform: &Platform,
    running: &Running,
    fw: &Framework,
) -> Result<Setup> {
    let specs: Vec<TenantSpec> = (0..a.tenants).map(tenant_spec).collect();
    let pools = (a.cap / a.pool_size.max(1)).max(1) as usize;

    // 1. The template tenant through the real onboarding.
    eprintln!("setup: onboarding {} through CreateTenant", specs[0].id);
    let op = token("operator", &["operator"]);
    let t0 = Instant::now();
    let s = &specs[0];
    TenantServiceClient::new(channel(running, ServiceKind::Tenancy).await?)
        .create_tenant(authed(
            &op,
            tpb::CreateTenantRequest {
                tenant_id: s.id.clone(),
                tenant: Some(tpb::Tenant {
                    display_name: s.display_name.clone(),
                    country: s.country as i32,
                    municipality_code: s.code.clone(),
                    population: s.population,
                    named_in_comparisons: s.named,
                    ..Default::default()
                }),
                database_server: String::new(),
            },
        )?)
        .await
        .context("CreateTenant of the template tenant")?;
    let template = t0.elapsed();
    let template_db = Backend::database_name(&env.prefix, &TenantId::parse(&s.id)?)?;

    // 2. Every other tenant database copied from it (no pool holds it yet:
    //    the registry opens pools on first request only).
    eprintln!("setup: {} databases from the template", specs.len() - 1);
    let t0 = Instant::now();
    let mut clone_lat = vec![];
    for (n, s) in specs.iter().enumerate().skip(1) {
        let db = Backend::database_name(&env.prefix, &TenantId::parse(&s.id)?)?;
        let t = Instant::now();
        env.admin
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{db}\" TEMPLATE \"{template_db}\""
            ))
            .await
            .with_context(|| format!("creating {db} from the template"))?;
        clone_lat.push(t.elapsed());
        if n % 100 == 0 {
            eprintln!("  {n} created, {:.1} s", t0.elapsed().as_secs_f64());
        }
    }
    let clones_total = t0.elapsed();

    // 3. Catalog rows as onboarding leaves them.
    let t0 = Instant::now();
    let now = Utc::now();
    let rows: Vec<tenant::ActiveModel> = specs
        .iter()
        .skip(1)
        .map(|s| {
            Ok(tenant::ActiveModel {
                id: Set(s.id.clone()),
                display_name: Set(s.display_name.clone()),
                country: Set(country_str(s.country).into()),
                municipality_code: Set(s.code.clone()),
                population: Set(s.population),
                state: Set("active".into()),
                named_in_comparisons: Set(s.named),
                database_server: Set(SERVER.into()),
                database_name: Set(Backend::database_name(
                    &env.prefix,
                    &TenantId::parse(&s.id)?,
                )?),
                created_at: Set(now),
                updated_at: Set(now),
            })
        })
        .collect::<Result<_>>()?;
    for chunk in rows.chunks(500) {
        tenant::Entity::insert_many(chunk.to_vec())
            .exec(platform.catalog.db())
            .await
            .context("inserting catalog rows")?;
    }
    let catalog_rows = t0.elapsed();
    // The onboarded row and the inserted ones must look alike.
    let first = platform
        .catalog
        .tenant(&TenantId::parse(&specs[0].id)?)
        .await?
        .context("template tenant row")?;
    ensure!(
        first.state == "active" && first.database_server == SERVER,
        "onboarding recorded state {:?} on server {:?}; the inserted rows assume active on {SERVER}",
        first.state,
        first.database_server
    );

    // 4. Tenant databases: the assessment tables, through the capped registry.
    eprintln!(
        "setup: {} evaluations into the tenant databases",
        a.tenants * a.per_tenant
    );
    let qs = questions(fw);
    let dir = platform.directory();
    let t0 = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(specs.iter().enumerate().map(|(i, s)| {
        let (dir, qs, fw) = (dir.clone(), &qs, fw);
        async move {
            let evals = eval_specs(i, a.per_tenant, qs);
            let db = dir.db(&TenantId::parse(&s.id)?).await?;
            let tx = db.begin().await?;
            let mut previous: Option<String> = None;
            for e in &evals {
                let (canonical, digest, _) = publication(fw, e);
                tx.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO evaluations (id, title, kind, framework_version, state, version, \
                     created_by, created_at, updated_at, previous_evaluation, evaluation_date, \
                     imported, imported_evaluator_names, publish_time, seal_digest, seal_time, \
                     published_content, seal_canonicalization) VALUES ($1, $2, 'external', $3, \
                     'published', 6, 'eva', $4, $5, $6, $7, false, '[]', $5, $8, $5, $9, $10)",
                    [
                        e.id.clone().into(),
                        format!("Kommunkompassen {}", &e.date[..4]).into(),
                        FW.into(),
                        (e.publish_time - chrono::Duration::days(120)).into(),
                        e.publish_time.into(),
                        previous.clone().into(),
                        e.date.clone().into(),
                        digest.into(),
                        canonical.into(),
                        kompass_seal::CURRENT.into(),
                    ],
                ))
                .await?;
                let mut sql = String::from(
                    "INSERT INTO agreed_scores (evaluation_id, question_id, points_centi, comment, \
                     agreed_by, version, updated_at) VALUES ",
                );
                let mut v: Vec<Value> = vec![e.id.clone().into(), e.publish_time.into()];
                for (j, ((_, q, _), p)) in qs.iter().zip(&e.points).enumerate() {
                    if j > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "($1, ${}, ${}, '', 'eva', 1, $2)",
                        v.len() + 1,
                        v.len() + 2
                    ));
                    v.push(q.clone().into());
                    v.push((*p).into());
                }
                tx.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, v))
                    .await?;
                previous = Some(e.id.clone());
            }
            tx.commit().await?;
            Ok(())
        }
    }))
    .buffer_unordered(pools)
    .collect()
    .await;
    results
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .context("writing tenant data")?;
    let tenant_writes = t0.elapsed();

    // 5. The read model, through the consumer's own handler (what a delivery
    //    of `evaluation.published` from the stream runs).
    eprintln!("setup: feeding the read model");
    let reporting = platform.reporting();
    let t0 = Instant::now();
    let lat: Vec<Result<Duration>> = futures::stream::iter((0..a.tenants).flat_map(|i| {
        eval_specs(i, a.per_tenant, &qs)
            .into_iter()
            .map(move |e| (i, e))
    }))
    .map(|(_, e)| async move {
        let (_, _, payload) = publication(fw, &e);
        let t = Instant::now();
        ensure!(
            reporting
                .handle(&event_id(&e), PUBLISHED_TOPIC, &payload)
                .await,
            "the read model refused {}",
            e.name
        );
        Ok(t.elapsed())
    })
    .buffer_unordered(4)
    .collect()
    .await;
    let feed_total = t0.elapsed();
    let feed = stats(lat.into_iter().collect::<Result<Vec<_>>>()?);
    let count = |sql: &'static str| async move {
        let r = platform
            .catalog
            .db()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?
            .context("count")?;
        Ok::<i64, anyhow::Error>(r.try_get("", "n")?)
    };
    let read_model_evaluations = count("SELECT count(*) AS n FROM reporting_evaluations").await?;
    let read_model_texts = count("SELECT count(*) AS n FROM reporting_texts").await?;
    ensure!(
        read_model_evaluations == (a.tenants * a.per_tenant) as i64,
        "read model holds {read_model_evaluations} evaluations, expected {}",
        a.tenants * a.per_tenant
    );
    Ok(Setup {
        template,
        clones: stats(clone_lat),
        clones_total,
        catalog_rows,
        tenant_writes,
        feed,
        feed_total,
        read_model_evaluations,
        read_model_texts,
    })
}

// ---------------------------------------------------------------------------
// Measurements

#[derive(Clone)]
struct Variant {
    label: &'static str,
    country: &'static str,
    from_year: i32,
    to_year: i32,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        label: "all tenants",
        country: "",
        from_year: 0,
        to_year: 0,
    },
    Variant {
        label: "country SE",
        country: "SE",
        from_year: 0,
        to_year: 0,
    },
    Variant {
        label: "years 2018–2021",
        country: "",
        from_year: 2018,
        to_year: 2021,
    },
];

impl Variant {
    fn request(&self) -> rpb::GetNationalComparisonRequest {
        rpb::GetNationalComparisonRequest {
            framework_version: FW.into(),
            country: self.country.into(),
            from_year: self.from_year,
            to_year: self.to_year,
            population_class: 0,
        }
    }
}

struct Measured {
    cold: Stats,
    cached: Stats,
    answer: rpb::NationalComparison,
    bytes: usize,
}

/// How a comparison is asked for.
enum Path<'a> {
    /// Over gRPC to the service as `kompass_serve::start` runs it.
    Grpc(&'a mut ReportingServiceClient<Channel>),
    /// In this process: what the handler does (the service's cached or
    /// computed comparison, then the named-tenant ranking), without gRPC.
    InProcess,
}

impl Path<'_> {
    async fn call(
        &mut self,
        platform: &Platform,
        analyst: &str,
        v: &Variant,
    ) -> Result<rpb::NationalComparison> {
        match self {
            Path::Grpc(client) => Ok(client
                .get_national_comparison(authed(analyst, v.request())?)
                .await
                .context("GetNationalComparison")?
                .into_inner()),
            Path::InProcess => {
                let reporting = platform.reporting();
                let c = reporting
                    .comparison(
                        &store::Filter {
                            framework_version: FW.into(),
                            country: v.country.into(),
                            from_year: v.from_year,
                            to_year: v.to_year,
                            population: None,
                        },
                        false,
                    )
                    .await?;
                Ok(c)
            }
        }
    }
}

/// Cold: the cache is invalidated before each call by redelivering an
/// already-applied `evaluation.published` event to the consumer's handler —
/// the same invalidation a publication causes, with no read-model change.
async fn measure(
    samples: usize,
    platform: &Platform,
    path: &mut Path<'_>,
    analyst: &str,
    v: &Variant,
    redelivery: &(String, Vec<u8>),
) -> Result<Measured> {
    let reporting = platform.reporting();
    let mut cold = vec![];
    let mut answer = None;
    for _ in 0..samples {
        ensure!(
            reporting
                .handle(&redelivery.0, PUBLISHED_TOPIC, &redelivery.1)
                .await,
            "cache invalidation (redelivery) failed"
        );
        let t = Instant::now();
        let r = path.call(platform, analyst, v).await?;
        cold.push(t.elapsed());
        ensure!(!r.cached, "a cold call was answered from the cache");
        match &answer {
            None => answer = Some(r),
            Some(first) => ensure!(first == &r, "cold answers differ between calls"),
        }
    }
    let answer = answer.context("no samples")?;
    // Fills the cache, then the same request again and again.
    path.call(platform, analyst, v).await?;
    let mut cached = vec![];
    for _ in 0..samples {
        let t = Instant::now();
        let mut r = path.call(platform, analyst, v).await?;
        cached.push(t.elapsed());
        ensure!(r.cached, "a repeated call was not answered from the cache");
        r.cached = false;
        ensure!(r == answer, "cached answer differs from the cold one");
    }
    Ok(Measured {
        cold: stats(cold),
        cached: stats(cached),
        bytes: answer.encoded_len(),
        answer,
    })
}

/// One evaluation read from a tenant database: id, evaluation date,
/// publish time, agreed points by question.
type TenantEval = (String, String, DateTime<Utc>, BTreeMap<String, i64>);

/// One tenant as the baseline sees it (from one catalog listing).
struct Known {
    id: String,
    country: String,
    display_name: String,
    named: bool,
    placement: Placement,
}

struct Fetched {
    tenants: Vec<Known>,
    /// Per tenant (same order), its published external evaluations, oldest first.
    rows: Vec<Vec<EvalRow>>,
}

struct BaselineSample {
    wall: Duration,
    /// Per tenant: getting a connection from the registry (opens a pool when
    /// the tenant has none), and the query.
    get: Vec<Duration>,
    query: Vec<Duration>,
}

/// The comparison computed at request time from every tenant database:
/// list tenants in the catalog, then for each one (as many at once as the
/// registry has pools) read its published external evaluations' agreed
/// scores, build the read model's rows and run the same computation.
async fn baseline_once(
    platform: &Platform,
    fw: &Framework,
    pools: usize,
) -> Result<(rpb::NationalComparison, BaselineSample, Fetched)> {
    let t0 = Instant::now();
    let listed = tenant::Entity::find().all(platform.catalog.db()).await?;
    let tenants: Vec<Known> = listed
        .into_iter()
        .filter(|t| t.state == "active")
        .map(|t| Known {
            placement: Placement {
                server: t.database_server,
                database: t.database_name,
            },
            id: t.id,
            country: t.country,
            display_name: t.display_name,
            named: t.named_in_comparisons,
        })
        .collect();
    let qs = questions(fw);
    let dbs = platform.dbs.clone();
    let per: Vec<Result<(Vec<EvalRow>, Duration, Duration)>> =
        futures::stream::iter(tenants.iter().map(|t| {
            let (dbs, qs) = (dbs.clone(), &qs);
            async move {
                let tg = Instant::now();
                let db = dbs.get(&TenantId::parse(&t.id)?, &t.placement).await?;
                let get = tg.elapsed();
                let tq = Instant::now();
                let res = db
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT e.id, e.evaluation_date, e.publish_time, s.question_id, s.points_centi \
                         FROM evaluations e JOIN agreed_scores s ON s.evaluation_id = e.id \
                         WHERE e.state = 'published' AND e.kind = 'external' AND e.framework_version = $1 \
                         ORDER BY e.evaluation_date, e.publish_time, e.id",
                        [FW.into()],
                    ))
                    .await?;
                let query = tq.elapsed();
                drop(db);
                // Group by evaluation (rows come ordered), scores in framework order.
                let mut evals: Vec<TenantEval> = vec![];
                for r in &res {
                    let id: String = r.try_get("", "id")?;
                    if evals.last().is_none_or(|e| e.0 != id) {
                        evals.push((
                            id.clone(),
                            r.try_get::<Option<String>>("", "evaluation_date")?
                                .unwrap_or_default(),
                            r.try_get::<Option<DateTime<Utc>>>("", "publish_time")?
                                .unwrap_or_default(),
                            BTreeMap::new(),
                        ));
                    }
                    let p: Option<i64> = r.try_get("", "points_centi")?;
                    evals
                        .last_mut()
                        .expect("pushed")
                        .3
                        .insert(r.try_get("", "question_id")?, p.unwrap_or(0));
                }
                let rows = evals
                    .into_iter()
                    .map(|(id, date, publish_time, points)| EvalRow {
                        evaluation: format!("tenants/{}/evaluations/{id}", t.id),
                        tenant_id: t.id.clone(),
                        kind: "external".into(),
                        framework_version: FW.into(),
                        evaluation_date: date,
                        publish_time,
                        scores: qs
                            .iter()
                            .map(|(a, q, max)| store::Score {
                                area: a.clone(),
                                question: q.clone(),
                                points: points.get(q).copied().unwrap_or(0),
                                max: *max,
                            })
                            .collect(),
                    })
                    .collect();
                Ok((rows, get, query))
            }
        }))
        .buffered(pools)
        .collect()
        .await;
    let mut rows = vec![];
    let (mut get, mut query) = (vec![], vec![]);
    for r in per {
        let (r, g, q) = r?;
        rows.push(r);
        get.push(g);
        query.push(q);
    }
    let fetched = Fetched { tenants, rows };
    let answer = expected(&fetched, &VARIANTS[0]);
    let wall = t0.elapsed();
    Ok((answer, BaselineSample { wall, get, query }, fetched))
}

/// What the RPC answers for `v`, from rows read out of the tenant databases:
/// the read model's filter, the same computation, then the RPC's ranking of
/// named tenants only, with their names.
fn expected(f: &Fetched, v: &Variant) -> rpb::NationalComparison {
    let year = |r: &EvalRow| {
        NaiveDate::parse_from_str(&r.evaluation_date, "%Y-%m-%d")
            .map(|d| d.year())
            .unwrap_or(r.publish_time.year())
    };
    let mut rows: Vec<EvalRow> = f
        .tenants
        .iter()
        .zip(&f.rows)
        .filter(|(t, _)| v.country.is_empty() || t.country == v.country)
        .flat_map(|(_, rs)| rs.iter().cloned())
        .filter(|r| v.from_year == 0 || year(r) >= v.from_year)
        .filter(|r| v.to_year == 0 || year(r) <= v.to_year)
        .collect();
    rows.sort_by(|a, b| {
        (&a.evaluation_date, a.publish_time, &a.evaluation).cmp(&(
            &b.evaluation_date,
            b.publish_time,
            &b.evaluation,
        ))
    });
    let mut c = kompass_reporting::compute_comparison(FW, rows);
    let named: BTreeMap<&str, &str> = f
        .tenants
        .iter()
        .filter(|t| t.named)
        .map(|t| (t.id.as_str(), t.display_name.as_str()))
        .collect();
    c.ranking.retain_mut(
        |e| match named.get(e.tenant.trim_start_matches("tenants/")) {
            Some(n) => {
                e.tenant_display_name = n.to_string();
                true
            }
            None => false,
        },
    );
    c
}

struct Report {
    pg_version: String,
    cores: usize,
    setup: Setup,
    variants: Vec<(Variant, Measured, bool)>,
    baseline: Stats,
    baseline_get: Stats,
    baseline_query: Stats,
    baseline_equal: bool,
    pdf: Stats,
    pdf_bytes: usize,
    pdf_name: String,
    pools: usize,
    in_process: Measured,
    cold_query: Stats,
    cold_compute: Stats,
}

async fn phases(
    a: &ComparisonArgs,
    env: &Env,
    platform: &Platform,
    running: &Running,
) -> Result<Report> {
    let pg_version: String = env
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('server_version') AS v",
        ))
        .await?
        .context("no version")?
        .try_get("", "v")?;
    let fw = Framework::builtin();
    ensure!(
        questions(fw).len() == 45,
        "expected the 45 questions of the built-in framework"
    );
    let setup = setup(a, env, platform, running, fw).await?;
    let pools = platform.dbs.stats().max_pools;
    // The analyst's role comes from the catalog, not from the token.
    kompass_proto::tenancy::v1::user_service_client::UserServiceClient::new(
        channel(running, ServiceKind::Tenancy).await?,
    )
    .create_user(authed(
        &token("operator", &["operator"]),
        tpb::CreateUserRequest {
            user_id: "ana".into(),
            user: Some(tpb::User {
                email: "ana@example.se".into(),
                display_name: "Ana".into(),
                platform_roles: vec![tpb::PlatformRole::Analyst as i32],
                ..Default::default()
            }),
        },
    )?)
    .await?;
    let analyst = token("ana", &["analyst"]);
    let mut client = ReportingServiceClient::new(channel(running, ServiceKind::Reporting).await?)
        .max_decoding_message_size(64 << 20);

    let qs = questions(fw);
    let first = eval_specs(0, a.per_tenant, &qs)
        .pop()
        .context("no evaluations")?;
    let redelivery = (event_id(&first), publication(fw, &first).2);

    let mut variants = vec![];
    for v in VARIANTS {
        eprintln!(
            "measuring: {} ({} cold, {} cached)",
            v.label, a.samples, a.samples
        );
        let m = measure(
            a.samples,
            platform,
            &mut Path::Grpc(&mut client),
            &analyst,
            &v,
            &redelivery,
        )
        .await?;
        variants.push((v, m));
    }
    // Where the time goes, all tenants only: without gRPC.
    eprintln!("measuring: all tenants, in process");
    let in_process = measure(
        a.samples,
        platform,
        &mut Path::InProcess,
        &analyst,
        &VARIANTS[0],
        &redelivery,
    )
    .await?;
    // The cold path's two parts: the read-model query (rows decoded into
    // `EvalRow`s) and the computation.
    let filter = store::Filter {
        framework_version: FW.into(),
        ..Default::default()
    };
    let (mut query, mut compute) = (vec![], vec![]);
    for _ in 0..a.samples.min(50) {
        let t = Instant::now();
        let rows = store::evaluations(&platform.reporting().db, &filter).await?;
        query.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(kompass_reporting::compute_comparison(FW, rows));
        compute.push(t.elapsed());
    }
    let (cold_query, cold_compute) = (stats(query), stats(compute));
    ensure!(
        in_process.answer == variants[0].1.answer,
        "in-process answers differ from the deployed service's"
    );

    eprintln!(
        "baseline: every tenant database, {} samples",
        a.baseline_samples
    );
    let mut walls = vec![];
    let (mut gets, mut queries) = (vec![], vec![]);
    let mut last = None;
    let mut baseline_equal = true;
    for n in 0..a.baseline_samples.max(1) {
        let (answer, s, fetched) = baseline_once(platform, fw, pools).await?;
        eprintln!("  {}: {}", n + 1, ms(s.wall));
        walls.push(s.wall);
        gets.extend(s.get);
        queries.extend(s.query);
        let mut rm = variants[0].1.answer.clone();
        rm.cached = false;
        baseline_equal &= answer == rm;
        last = Some(fetched);
    }
    let fetched = last.context("no baseline")?;
    let variants = variants
        .into_iter()
        .map(|(v, m)| {
            let eq = expected(&fetched, &v) == m.answer;
            (v, m, eq)
        })
        .collect::<Vec<_>>();

    // The latest evaluation of the first named tenant: a full report.
    let t = (0..a.tenants)
        .find(|i| tenant_spec(*i).named)
        .context("no named tenant")?;
    let pdf_name = eval_specs(t, a.per_tenant, &qs)
        .pop()
        .context("no evaluation")?
        .name;
    eprintln!("pdf: {} × ExportEvaluationReport {pdf_name}", a.pdf_samples);
    let pdf = export_pdf(&mut client, &analyst, &pdf_name, a.pdf_samples).await;
    let (pdf, pdf_bytes) = pdf?;

    Ok(Report {
        pg_version,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        setup,
        variants,
        baseline: stats(walls),
        baseline_get: stats(gets),
        baseline_query: stats(queries),
        baseline_equal,
        pdf,
        pdf_bytes,
        pdf_name,
        pools,
        in_process,
        cold_query,
        cold_compute,
    })
}

/// `samples` PDF exports of `name` after one warm-up; (times, size).
async fn export_pdf(
    client: &mut ReportingServiceClient<Channel>,
    analyst: &str,
    name: &str,
    samples: usize,
) -> Result<(Stats, usize)> {
    let req = || rpb::ExportEvaluationReportRequest {
        name: name.into(),
        format: rpb::ExportFormat::Pdf as i32,
        language: "sv".into(),
    };
    let warm = client
        .export_evaluation_report(authed(analyst, req())?)
        .await
        .context("ExportEvaluationReport")?
        .into_inner();
    ensure!(
        warm.content.starts_with(b"%PDF"),
        "the export is not a PDF ({})",
        warm.content_type
    );
    let mut lat = vec![];
    for _ in 0..samples {
        let t = Instant::now();
        let f = client
            .export_evaluation_report(authed(analyst, req())?)
            .await
            .context("ExportEvaluationReport")?
            .into_inner();
        lat.push(t.elapsed());
        // Sizes differ by a few bytes between exports (creation date and id).
        ensure!(f.content.starts_with(b"%PDF"), "an export is not a PDF");
    }
    Ok((stats(lat), warm.content.len()))
}

/// Opens the platform on `env` (catalog migrated, all services started),
/// runs `f` on it and shuts it down.
pub(crate) async fn on_platform<T>(
    a: &ComparisonArgs,
    env: &Env,
    redis_prefix: &str,
    f: impl AsyncFnOnce(&Platform, &Running) -> Result<T>,
) -> Result<T> {
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
    if !a.redis.is_empty() {
        cfg.redis.url = Some(a.redis.clone());
        cfg.redis.key_prefix = redis_prefix.into();
    }
    let platform = Platform::open(cfg).await.context("opening the platform")?;
    let running = kompass_serve::start(&platform, &ServiceKind::ALL, |_| 0)
        .await
        .context("starting the services")?;
    let res = f(&platform, &running).await;
    running.shutdown().await;
    platform.dbs.close_all().await;
    platform.catalog.db().clone().close().await.ok();
    res
}

async fn run(a: &ComparisonArgs, env: &Env, redis_prefix: &str) -> Result<Report> {
    on_platform(a, env, redis_prefix, async |p, r| {
        phases(a, env, p, r).await
    })
    .await
}

/// A catalog database and tenant prefix of this run's own for `f`; every
/// database and Redis key of the run is deleted afterwards.
pub(crate) async fn in_env<T>(
    a: &ComparisonArgs,
    f: impl AsyncFnOnce(&Env, &str) -> Result<T>,
) -> Result<T> {
    let (env, id) = Env::create().await?;
    let redis_prefix = format!("kbench{id}:");
    let res = tokio::select! {
        r = f(&env, &redis_prefix) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let cleaned = cleanup(&env).await;
    env.admin.close().await.ok();
    if !a.redis.is_empty() {
        match redis_cleanup(&a.redis, &redis_prefix).await {
            Ok(n) => eprintln!("cleanup: {n} Redis keys deleted"),
            Err(e) => eprintln!("cleanup: Redis keys under {redis_prefix} not deleted: {e}"),
        }
    }
    let r = res?;
    cleaned?;
    Ok(r)
}

/// Deletes every Redis key of this run (cache generations, streams).
async fn redis_cleanup(url: &str, prefix: &str) -> Result<usize> {
    let client = redis::Client::open(url)?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("DEL").arg(&keys).query_async(&mut c).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "–".into();
    }
    let x = a.as_secs_f64() / b.as_secs_f64();
    if x < 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.0}×")
    }
}

fn ok(b: bool) -> &'static str {
    if b { "equal" } else { "**MISMATCH**" }
}

fn print(a: &ComparisonArgs, r: &Report) {
    let s = &r.setup;
    let n = a.tenants * a.per_tenant;
    println!();
    println!("Command: `{}`", a.command());
    println!();
    println!(
        "Machine: {} cores, PostgreSQL {} on 127.0.0.1; all four services in the benchmark process; comparison cache: {}.",
        r.cores,
        r.pg_version,
        if a.redis.is_empty() {
            "in process"
        } else {
            "Redis"
        }
    );
    println!();
    println!("| Setup (not a target) | Result |");
    println!("|---|---|");
    println!("| Template tenant via CreateTenant | {} |", ms(s.template));
    println!(
        "| {} tenant databases via CREATE DATABASE … TEMPLATE, median / total | {} / {:.1} s |",
        a.tenants - 1,
        ms(s.clones.median),
        s.clones_total.as_secs_f64()
    );
    println!(
        "| {} catalog rows | {} |",
        a.tenants - 1,
        ms(s.catalog_rows)
    );
    println!(
        "| {n} published evaluations into the tenant databases | {:.1} s |",
        s.tenant_writes.as_secs_f64()
    );
    println!(
        "| {n} `evaluation.published` events through the read model's handler, median / total | {} / {:.1} s |",
        ms(s.feed.median),
        s.feed_total.as_secs_f64()
    );
    println!(
        "| Read model: evaluations / text passages | {} / {} |",
        s.read_model_evaluations, s.read_model_texts
    );
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    for (v, m, _) in &r.variants {
        println!(
            "| GetNationalComparison, {}, **cached**, median / p99 / max ({} samples) | {} / {} / {} | p99 < 10 ms |",
            v.label,
            a.samples,
            ms(m.cached.median),
            ms(m.cached.p99),
            ms(m.cached.max)
        );
        println!(
            "| GetNationalComparison, {}, **cold**, median / p99 / max ({} samples) | {} / {} / {} | < 100 ms |",
            v.label,
            a.samples,
            ms(m.cold.median),
            ms(m.cold.p99),
            ms(m.cold.max)
        );
        println!(
            "| … {}: tenants compared / ranked (named) / response size | {} / {} / {:.1} KiB | |",
            v.label,
            m.answer.tenant_count,
            m.answer.ranking.len(),
            m.bytes as f64 / 1024.0
        );
    }
    let all = &r.variants[0].1;
    println!(
        "| … all tenants, cold, its parts in process: read-model query / computation, median / p99 | {} / {} , {} / {} | |",
        ms(r.cold_query.median),
        ms(r.cold_query.p99),
        ms(r.cold_compute.median),
        ms(r.cold_compute.p99)
    );
    let m = &r.in_process;
    println!(
        "| … all tenants, in process (no gRPC): cached median / p99, cold median / p99 | {} / {} , {} / {} | |",
        ms(m.cached.median),
        ms(m.cached.p99),
        ms(m.cold.median),
        ms(m.cold.p99)
    );
    println!(
        "| Baseline: every tenant database at request time, all tenants, median / max ({} samples) | {} / {} | |",
        a.baseline_samples.max(1),
        ms(r.baseline.median),
        ms(r.baseline.max)
    );
    println!(
        "| … per tenant: registry connection (opens a pool; {} pools) median / p99, query median / p99 | {} / {} , {} / {} | |",
        r.pools,
        ms(r.baseline_get.median),
        ms(r.baseline_get.p99),
        ms(r.baseline_query.median),
        ms(r.baseline_query.p99)
    );
    println!(
        "| **Ratio** baseline / cold, baseline / cached (medians) | {} , {} | |",
        ratio(r.baseline.median, all.cold.median),
        ratio(r.baseline.median, all.cached.median)
    );
    println!(
        "| Figures: read model vs baseline, all tenants (every baseline sample) | {} | equal |",
        ok(r.baseline_equal)
    );
    for (v, _, eq) in &r.variants {
        println!(
            "| Figures: read model vs tenant databases, {} | {} | equal |",
            v.label,
            ok(*eq)
        );
    }
    println!(
        "| ExportEvaluationReport PDF (one full report, {}), median / p99 / max ({} samples) | {} / {} / {} | < 300 ms |",
        r.pdf_name,
        a.pdf_samples,
        ms(r.pdf.median),
        ms(r.pdf.p99),
        ms(r.pdf.max)
    );
    println!("| PDF size | {:.1} KiB | |", r.pdf_bytes as f64 / 1024.0);
}

pub async fn comparison(a: ComparisonArgs) -> Result<bool> {
    if a.tenants == 0 || a.per_tenant == 0 || a.samples == 0 {
        bail!("--tenants, --per-tenant and --samples must be positive");
    }
    let report = in_env(&a, async |env, redis_prefix| {
        run(&a, env, redis_prefix).await
    })
    .await?;
    print(&a, &report);
    let equal = report.baseline_equal && report.variants.iter().all(|(_, _, eq)| *eq);
    if !equal {
        eprintln!("FAIL: the read model's figures differ from the tenant databases'");
    }
    Ok(equal)
}
