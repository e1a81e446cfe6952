//! The browser console: `kompass serve console`, and inside `kompass dev`.

use std::net::SocketAddr;

use anyhow::Context;
use kompass_config::{Config, ServiceKind};
use kompass_console::{Console, DevSignIn, Settings};
use kompass_oidc::{OidcSettings, Store};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

/// The console's OpenID Connect client from `cfg.oidc`; `None` when no
/// issuer is configured. A client id is required with an issuer. The
/// redirect URL defaults to the console's own address (`bound`).
pub fn oidc(cfg: &Config, bound: SocketAddr) -> anyhow::Result<Option<OidcSettings>> {
    let Some(issuer) = &cfg.oidc.issuer else {
        return Ok(None);
    };
    let client_id = cfg
        .oidc
        .client_id
        .as_deref()
        .context("KOMPASS_OIDC_ISSUER is set: KOMPASS_OIDC_CLIENT_ID is needed too")?;
    let redirect = cfg
        .oidc
        .redirect_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}/auth/callback"));
    url::Url::parse(&redirect)
        .with_context(|| format!("KOMPASS_OIDC_REDIRECT_URL {redirect:?} is not a URL"))?;
    Ok(Some(OidcSettings::new(
        issuer,
        client_id,
        cfg.oidc.client_secret.as_deref(),
        &redirect,
    )))
}

pub fn settings(
    cfg: &Config,
    bound: SocketAddr,
    url: impl Fn(ServiceKind) -> String,
    dev: Option<DevSignIn>,
) -> anyhow::Result<Settings> {
    Ok(Settings {
        tenancy_url: url(ServiceKind::Tenancy),
        assessment_url: url(ServiceKind::Assessment),
        projects_url: url(ServiceKind::Projects),
        reporting_url: url(ServiceKind::Reporting),
        dev,
        oidc: oidc(cfg, bound)?,
        secure_cookies: cfg.console.secure_cookies,
        session_ttl: std::time::Duration::from_secs(cfg.sessions.ttl_secs),
    })
}

/// Binds the console's port; port 0 binds any free port.
pub async fn bind(cfg: &Config) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let addr = format!("{}:{}", cfg.listen_host, cfg.console.port);
    let l = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding the console to {addr}"))?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// The session store `cfg.sessions` names; `catalog` is the catalog database
/// (sessions survive a console restart in it, or in Redis).
pub async fn store(cfg: &Config, catalog: Option<DatabaseConnection>) -> anyhow::Result<Store> {
    let store = Store::from_config(cfg, catalog)
        .await
        .map_err(anyhow::Error::msg)?;
    // Expired database sessions are purged; Redis expires its own.
    store.spawn_purge(std::time::Duration::from_secs(600));
    Ok(store)
}

/// Serves the console until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    store: Store,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let console = Console::new(settings)?;
    let app = kompass_console::app(console, store);
    kompass_console::serve(listener, app, stop).await?;
    Ok(())
}

/// `kompass serve console`.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (listener, addr) = bind(&cfg).await?;
    let catalog = match (&cfg.sessions.store, &cfg.redis.url, &cfg.database.url) {
        (kompass_config::SessionStoreKind::Database, _, Some(url))
        | (kompass_config::SessionStoreKind::Auto, None, Some(url)) => Some(
            sea_orm::Database::connect(url.as_str())
                .await
                .context("connecting to the catalog database for console sessions")?,
        ),
        _ => None,
    };
    let store = store(&cfg, catalog).await?;
    tracing::info!(%addr, "console listening");
    let s = settings(&cfg, addr, |k| cfg.service_url(k), None)?;
    serve(listener, s, store, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
