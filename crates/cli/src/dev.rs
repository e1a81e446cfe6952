//! `kompass dev`: the whole product in one process, seeded with a demo.

use std::time::{Duration, Instant};

use kompass_auth::{Claims, mint_hs256};
use kompass_config::{Config, ServiceKind};
use kompass_serve::Platform;

pub struct SeedUser {
    pub id: &'static str,
    pub name: &'static str,
    pub roles: &'static [&'static str],
    pub admin_of: Option<&'static str>,
}

pub const USERS: &[SeedUser] = &[
    SeedUser {
        id: "operator",
        name: "Olivia Operatör",
        roles: &["operator"],
        admin_of: None,
    },
    SeedUser {
        id: "eva",
        name: "Eva Utvärderare",
        roles: &["evaluator"],
        admin_of: None,
    },
    SeedUser {
        id: "analys",
        name: "Anders Analytiker",
        roles: &["analyst"],
        admin_of: None,
    },
    SeedUser {
        id: "anna",
        name: "Anna Kvalitetsstrateg",
        roles: &[],
        admin_of: Some("ostra"),
    },
    SeedUser {
        id: "bertil",
        name: "Bertil Kvalitetsstrateg",
        roles: &[],
        admin_of: Some("vastra"),
    },
];

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let platform = Platform::open(cfg.clone()).await?;
    let users: Vec<_> = USERS
        .iter()
        .map(|u| (u.id, u.name, u.roles, u.admin_of))
        .collect();
    kompass_tenancy::seed::demo(
        &platform.catalog,
        &platform.dbs,
        &cfg.database.tenant_db_prefix,
        &users,
    )
    .await?;
    let running = kompass_serve::start(&platform, &ServiceKind::ALL, |k| cfg.port(k)).await?;
    let secret = platform.jwt_secret.clone().unwrap_or_default();
    let token = |id: &str| {
        let roles = USERS
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.roles)
            .unwrap_or_default();
        let claims = Claims::new(
            &cfg.auth.issuer,
            &cfg.auth.audience,
            id,
            roles,
            Duration::from_secs(30 * 24 * 3600),
        );
        mint_hs256(&secret, &claims)
    };
    let started = Instant::now();
    let demo = crate::demo::seed(
        ServiceKind::ALL.map(|k| running.url(k)),
        crate::demo::Tokens {
            operator: token("operator"),
            eva: token("eva"),
            anna: token("anna"),
            bertil: token("bertil"),
            analyst: token("analys"),
        },
    )
    .await;
    let (listener, console_addr) = crate::console::bind(&cfg).await?;
    let dev = kompass_console::DevSignIn {
        secret: secret.clone(),
        issuer: cfg.auth.issuer.clone(),
        audience: cfg.auth.audience.clone(),
        users: USERS
            .iter()
            .map(|u| kompass_console::DevUser {
                id: u.id.into(),
                display_name: u.name.into(),
                roles: u.roles.iter().map(|r| r.to_string()).collect(),
                admin_of: u.admin_of.map(str::to_string),
            })
            .collect(),
    };
    let settings = crate::console::settings(&cfg, console_addr, |k| running.url(k), Some(dev))?;
    // Sessions in the catalog's SQLite file (or Redis when configured), so a
    // restart of `kompass dev` keeps people signed in.
    let store = crate::console::store(&cfg, Some(platform.catalog.db().clone())).await?;
    let (stop_console, stopped) = tokio::sync::oneshot::channel::<()>();
    let console = tokio::spawn(crate::console::serve(
        listener,
        settings,
        store,
        async move {
            let _ = stopped.await;
        },
    ));
    // The console first: it is where a person starts.
    println!(
        "\nConsole: http://{console_addr}  (open it in a browser; sign in as a demo user with one click)"
    );
    if cfg.oidc.is_configured() {
        println!("         OpenID Connect is configured, so the development sign-in is off.");
    }
    println!(
        "\nKompass is running (embedded: SQLite in {}, in-process cache and events)\n",
        cfg.database.data_dir.display()
    );
    for k in ServiceKind::ALL {
        println!("  {:<11} {}", k.as_str(), running.url(k));
    }
    match &demo {
        Ok(demo) => println!(
            "\nDemo (fictional municipalities, invented results): {} municipalities, {} published results ({} public){}",
            demo.municipalities,
            demo.published,
            demo.public,
            if demo.written == 0 {
                " - already seeded, nothing changed".to_string()
            } else {
                format!(" - seeded in {:.1} s", started.elapsed().as_secs_f64())
            }
        ),
        // What is there keeps working; the next start completes the demo.
        Err(e) => println!("\nDemo incomplete ({e:#}); the next start tries again"),
    }
    println!("\nTokens (valid 30 days; send as `authorization: Bearer <token>`):");
    for u in USERS {
        let what = match (u.roles.first(), u.admin_of) {
            (Some(r), _) => r.to_string(),
            (None, Some(t)) => format!("tenant_admin of {t}"),
            _ => String::new(),
        };
        println!("\n  {} ({}, {what}):\n  {}", u.id, u.name, token(u.id));
    }
    println!(
        "\nTry: grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" 127.0.0.1:{} kompass.tenancy.v1.TenantService/ListTenants\n",
        cfg.ports.tenancy
    );
    let mut running = running;
    let mut console = console;
    tokio::select! {
        r = running.wait() => r?,
        r = &mut console => r??,
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = stop_console.send(());
    running.shutdown().await;
    Ok(())
}
