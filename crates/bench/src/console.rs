//! `console`: what the browser console adds to the gRPC calls behind its
//! pages. The platform is set up as for `comparison` (1,000 municipalities
//! with published results in the read model); the console runs in this
//! process on loopback, and each page is requested one at a time, so the
//! console's own call counters (`kompass_console::grpc::call_totals`) give
//! the calls each request made and the time until their answers came. A
//! page's cost beyond its calls is its time to first byte minus that time.
//! See docs/benchmarks.md.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use kompass_config::ServiceKind;
use kompass_console::grpc::call_totals;
use kompass_console::{Console, DevSignIn, DevUser, Settings};
use kompass_frameworks::Framework;
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use kompass_serve::{Platform, Running};

use crate::comparison::{self, ComparisonArgs};
use crate::{SECRET, Stats, authed, channel, ms, stats};

#[derive(Args, Clone)]
pub struct ConsoleArgs {
    /// Municipalities (each with its own database) in the read model.
    #[arg(long, default_value_t = 1000)]
    pub tenants: usize,
    /// Requests per page (after 10 unmeasured).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Redis for the comparison cache and the event bus; empty: in process.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

struct PageResult {
    label: &'static str,
    path: String,
    calls: u64,
    /// What the page shows that is a resource of its own (reported beside
    /// the calls).
    resources: String,
    bytes: usize,
    ttfb: Stats,
    grpc: Stats,
    overhead: Stats,
    /// Target page weight.
    max_bytes: Option<usize>,
}

/// A page to measure, and as whom.
struct Target<'a> {
    label: &'static str,
    path: String,
    cookie: Option<&'a str>,
    resources: &'static str,
    max_bytes: Option<usize>,
}

async fn sign_in(http: &reqwest::Client, base: &str, user: &str) -> Result<String> {
    let r = http
        .post(format!("{base}/dev/sign-in"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user", user), ("next", "/home")])
        .send()
        .await?;
    ensure!(
        r.status().is_redirection(),
        "sign-in as {user}: {}",
        r.status()
    );
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(kompass_console::session::COOKIE))
        .context("no session cookie")?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

async fn measure(
    http: &reqwest::Client,
    base: &str,
    label: &'static str,
    path: &str,
    cookie: Option<&str>,
    samples: usize,
) -> Result<(u64, usize, Stats, Stats, Stats)> {
    let get = async || -> Result<(Duration, Duration, u64, usize)> {
        let before = call_totals();
        let mut req = http.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let t0 = Instant::now();
        let r = req.send().await?;
        // `send` returns once the status line and headers are in.
        let ttfb = t0.elapsed();
        ensure!(r.status().is_success(), "{label} {path}: {}", r.status());
        let body = r.bytes().await?;
        let after = call_totals();
        Ok((
            ttfb,
            Duration::from_nanos(after.nanos - before.nanos),
            after.calls - before.calls,
            body.len(),
        ))
    };
    for _ in 0..10 {
        get().await?;
    }
    let (mut t, mut g, mut o) = (vec![], vec![], vec![]);
    let (mut calls, mut bytes) = (0, 0);
    for _ in 0..samples {
        let (ttfb, grpc, c, b) = get().await?;
        calls = calls.max(c);
        bytes = bytes.max(b);
        t.push(ttfb);
        g.push(grpc);
        o.push(ttfb.saturating_sub(grpc));
    }
    Ok((calls, bytes, stats(t), stats(g), stats(o)))
}

async fn phases(
    a: &ConsoleArgs,
    cmp: &ComparisonArgs,
    env: &crate::Env,
    platform: &Platform,
    running: &Running,
) -> Result<Vec<PageResult>> {
    let fw = Framework::builtin();
    comparison::setup(cmp, env, platform, running, fw).await?;
    // An analyst for the comparison; a municipality's admin for the home page.
    let op = comparison::token("operator", &["operator"]);
    let mut users = UserServiceClient::new(channel(running, ServiceKind::Tenancy).await?);
    let home_tenant = comparison::tenant_spec(1);
    for (id, role) in [("ana", Some(tpb::PlatformRole::Analyst)), ("anna", None)] {
        users
            .create_user(authed(
                &op,
                tpb::CreateUserRequest {
                    user_id: id.into(),
                    user: Some(tpb::User {
                        email: format!("{id}@example.se"),
                        display_name: id.into(),
                        platform_roles: role.map(|r| r as i32).into_iter().collect(),
                        ..Default::default()
                    }),
                },
            )?)
            .await?;
    }
    users
        .create_membership(authed(
            &op,
            tpb::CreateMembershipRequest {
                parent: format!("tenants/{}", home_tenant.id),
                membership: Some(tpb::Membership {
                    user: "users/anna".into(),
                    role: tpb::TenantRole::TenantAdmin as i32,
                    ..Default::default()
                }),
            },
        )?)
        .await?;

    let settings = Settings {
        tenancy_url: running.url(ServiceKind::Tenancy),
        assessment_url: running.url(ServiceKind::Assessment),
        projects_url: running.url(ServiceKind::Projects),
        reporting_url: running.url(ServiceKind::Reporting),
        dev: Some(DevSignIn {
            secret: SECRET.into(),
            issuer: "kompass".into(),
            audience: "kompass".into(),
            users: [("ana", vec!["analyst".to_string()]), ("anna", vec![])]
                .into_iter()
                .map(|(u, roles)| DevUser {
                    id: u.into(),
                    display_name: u.into(),
                    roles,
                    admin_of: None,
                })
                .collect(),
        }),
        oidc: None,
        secure_cookies: false,
        session_ttl: Duration::from_secs(3600),
    };
    let app = kompass_console::app(
        Console::new(settings)?,
        kompass_oidc::Store::Memory(Default::default()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kompass_console::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let analyst = sign_in(&http, &base, "ana").await?;
    let admin = sign_in(&http, &base, "anna").await?;

    // The latest published report of the first named municipality.
    let named = (0..cmp.tenants)
        .find(|i| comparison::tenant_spec(*i).named)
        .context("no named municipality")?;
    let qs = comparison::questions(fw);
    let report = comparison::eval_specs(named, cmp.per_tenant, &qs)
        .pop()
        .context("no evaluation")?
        .name
        .replace("tenants/", "/reports/")
        .replace("/evaluations/", "/");

    let pages = [
        Target {
            label: "report (public)",
            path: report,
            cookie: None,
            resources: "1 (the report)",
            max_bytes: Some(150 * 1024),
        },
        Target {
            label: "comparison (analyst)",
            path: "/comparison".into(),
            cookie: Some(&analyst),
            resources: "2 (revisions, the comparison)",
            max_bytes: Some(300 * 1024),
        },
        Target {
            label: "home (municipality admin)",
            path: "/home".into(),
            cookie: Some(&admin),
            resources: "who, municipality, its evaluations (each with its team and report), key figures",
            max_bytes: None,
        },
    ];
    let mut out = vec![];
    for t in pages {
        eprintln!("measuring: {} {} ({} requests)", t.label, t.path, a.samples);
        let (calls, bytes, ttfb, grpc, overhead) =
            measure(&http, &base, t.label, &t.path, t.cookie, a.samples).await?;
        out.push(PageResult {
            label: t.label,
            path: t.path,
            calls,
            resources: t.resources.into(),
            bytes,
            ttfb,
            grpc,
            overhead,
            max_bytes: t.max_bytes,
        });
    }
    let _ = stop.send(());
    server.await??;
    Ok(out)
}

fn print(a: &ConsoleArgs, pages: &[PageResult]) -> bool {
    println!(
        "\nConsole pages, {} requests each, one at a time ({} municipalities in the read model)\n",
        a.samples, a.tenants
    );
    println!(
        "| Page | gRPC calls | resources shown | size | TTFB p50 / p99 | its gRPC calls p50 / p99 | console's own p50 / p99 | TTFB ÷ gRPC (p50) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for p in pages {
        let weight_ok = p.max_bytes.is_none_or(|m| p.bytes <= m);
        let own_ok = p.overhead.median <= Duration::from_millis(5);
        ok &= weight_ok && own_ok;
        println!(
            "| {} `{}` | {} | {} | {:.1} KB{} | {} / {} | {} / {} | {} / {}{} | {:.2} |",
            p.label,
            p.path,
            p.calls,
            p.resources,
            p.bytes as f64 / 1024.0,
            p.max_bytes
                .map(|m| format!(" (target < {} KB)", m / 1024))
                .unwrap_or_default(),
            ms(p.ttfb.median),
            ms(p.ttfb.p99),
            ms(p.grpc.median),
            ms(p.grpc.p99),
            ms(p.overhead.median),
            ms(p.overhead.p99),
            if own_ok { "" } else { " (over 5 ms)" },
            p.ttfb.median.as_secs_f64() / p.grpc.median.as_secs_f64().max(1e-9),
        );
    }
    ok
}

pub async fn console(a: ConsoleArgs) -> Result<bool> {
    if a.tenants == 0 || a.samples == 0 {
        bail!("--tenants and --samples must be positive");
    }
    let cmp = ComparisonArgs {
        tenants: a.tenants,
        per_tenant: 3,
        samples: 1,
        baseline_samples: 1,
        pdf_samples: 1,
        cap: 40,
        pool_size: 2,
        redis: a.redis.clone(),
    };
    let pages = comparison::in_env(&cmp, async |env, redis_prefix| {
        comparison::on_platform(&cmp, env, redis_prefix, async |p, r| {
            phases(&a, &cmp, env, p, r).await
        })
        .await
    })
    .await?;
    Ok(print(&a, &pages))
}
