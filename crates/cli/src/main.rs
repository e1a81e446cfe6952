//! `kompass`: one binary for every service and the operator's commands.

mod admin;
mod console;
mod demo;
mod dev;
mod events;
mod import;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kompass_config::{Config, ServiceKind};

#[derive(Parser)]
#[command(
    name = "kompass",
    version,
    about = "Kommunkompassen evaluations, projects and reports"
)]
struct Cli {
    /// TOML configuration file (also KOMPASS_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs every service in one process on the embedded default (SQLite,
    /// in-process cache and events), seeds a demo and prints tokens.
    Dev {
        /// Where the SQLite files live.
        #[arg(long, default_value = ".kompass-dev")]
        data_dir: PathBuf,
    },
    /// Runs one service, as it is deployed.
    Serve {
        /// tenancy, assessment, projects, reporting or console.
        service: String,
    },
    /// Migrates the catalog and every tenant database.
    Migrate,
    /// Tenants (municipalities).
    Tenant {
        #[command(subcommand)]
        cmd: admin::TenantCmd,
        #[command(flatten)]
        conn: admin::Conn,
    },
    /// Users and memberships.
    User {
        #[command(subcommand)]
        cmd: admin::UserCmd,
        #[command(flatten)]
        conn: admin::Conn,
    },
    /// The event pipeline: dead letters.
    Events {
        #[command(subcommand)]
        cmd: events::EventsCmd,
    },
    /// Mints a development token signed with the configured HS256 secret.
    Token {
        /// User id (the token's `sub`).
        #[arg(long)]
        sub: String,
        /// Platform roles written into the token for readability only: the
        /// services take roles from the catalog (`kompass user roles`).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    match cli.cmd {
        Cmd::Dev { data_dir } => {
            if std::env::var_os("KOMPASS_DATA_DIR").is_none() {
                cfg.database.data_dir = data_dir;
            }
            // A newcomer's terminal shows the console's address first, not a
            // log line per demo request; KOMPASS_LOG (or the file) says otherwise.
            if cfg.telemetry.log == kompass_config::TelemetryConfig::default().log {
                cfg.telemetry.log = "warn".into();
            }
            let _t = kompass_telemetry::init(&cfg.telemetry, "dev")?;
            dev::run(cfg).await
        }
        Cmd::Serve { service } if service == "console" => {
            let _t = kompass_telemetry::init(&cfg.telemetry, "console")?;
            console::run(cfg).await
        }
        Cmd::Serve { service } => {
            let kind = ServiceKind::parse(&service).with_context(|| {
                format!(
                    "unknown service {service:?}: use tenancy, assessment, projects, reporting or console"
                )
            })?;
            let _t = kompass_telemetry::init(&cfg.telemetry, kind.as_str())?;
            let platform = kompass_serve::Platform::open(cfg.clone()).await?;
            let mut running = kompass_serve::start(&platform, &[kind], |k| cfg.port(k)).await?;
            tokio::select! {
                r = running.wait() => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
            running.shutdown().await;
            Ok(())
        }
        Cmd::Migrate => {
            let _t = kompass_telemetry::init(&cfg.telemetry, "migrate")?;
            // A migration may rewrite a large table; it is watched by an operator.
            cfg.database.statement_timeout_ms = 0;
            let (url, backend) = kompass_serve::storage(&cfg)?;
            let bar = std::io::stderr().is_terminal().then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} tenant databases {msg}",
                    )
                    .expect("template"),
                );
                b.enable_steady_tick(Duration::from_millis(200));
                b
            });
            if let Some(a) = &cfg.database.analytics_url {
                kompass_serve::migrate_analytics(&kompass_serve::pg_url(a, &cfg)?).await?;
            }
            let report = kompass_serve::migrate_all(
                &url,
                &backend,
                &cfg.database.tenant_db_prefix,
                cfg.database.migrate_concurrency,
                |done, total, id| {
                    if let Some(b) = &bar {
                        b.set_length(total as u64);
                        b.set_position(done as u64);
                        b.set_message(id.to_string());
                    }
                },
            )
            .await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            for s in &report.templates {
                println!("onboarding template re-created on server {s}");
            }
            for (s, err) in &report.templates_failed {
                println!("  FAILED onboarding template on server {s}: {err}");
            }
            println!(
                "catalog migrated; {} tenant database(s) migrated, {} failed",
                report.migrated.len(),
                report.failed.len()
            );
            for (id, err) in &report.failed {
                println!("  FAILED {id}: {err}");
            }
            if !report.templates_failed.is_empty() {
                bail!(
                    "the onboarding template failed on {} server(s); onboarding there creates and migrates (slower) until `kompass migrate` succeeds",
                    report.templates_failed.len()
                );
            }
            if !report.failed.is_empty() {
                bail!(
                    "{} tenant database(s) failed to migrate",
                    report.failed.len()
                );
            }
            Ok(())
        }
        Cmd::Tenant { cmd, conn } => admin::tenant(&cfg, conn, cmd).await,
        Cmd::Events { cmd } => events::run(&cfg, cmd).await,
        Cmd::User { cmd, conn } => admin::user(&cfg, conn, cmd).await,
        Cmd::Token { sub, roles, ttl } => {
            let secret = match &cfg.auth.jwt_secret {
                Some(s) => s.clone(),
                None if cfg.is_embedded() => kompass_serve::dev_secret(&cfg.database.data_dir)?,
                None => bail!(
                    "set KOMPASS_JWT_SECRET to mint tokens; production tokens come from your identity provider"
                ),
            };
            for r in &roles {
                if kompass_auth::PlatformRole::parse(r).is_none() {
                    bail!("unknown role {r:?}: use operator, evaluator or analyst");
                }
            }
            kompass_core::UserId::parse(&sub).map_err(|e| anyhow::anyhow!("{e}"))?;
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let claims = kompass_auth::Claims::new(
                &cfg.auth.issuer,
                &cfg.auth.audience,
                &sub,
                &roles,
                Duration::from_secs(ttl),
            );
            println!("{}", kompass_auth::mint_hs256(&secret, &claims));
            Ok(())
        }
    }
}
