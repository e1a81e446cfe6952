//! The browser console: `kompass serve console`, and inside `kompass dev`.

use std::net::SocketAddr;

use anyhow::Context;
use kompass_config::{Config, ServiceKind};
use kompass_console::{Console, DevSignIn, MemoryStore, Settings};
use tokio::net::TcpListener;

pub fn settings(
    cfg: &Config,
    url: impl Fn(ServiceKind) -> String,
    dev: Option<DevSignIn>,
) -> Settings {
    Settings {
        tenancy_url: url(ServiceKind::Tenancy),
        assessment_url: url(ServiceKind::Assessment),
        projects_url: url(ServiceKind::Projects),
        reporting_url: url(ServiceKind::Reporting),
        dev,
        oidc_issuer: cfg.console.oidc_issuer.clone(),
        secure_cookies: cfg.console.secure_cookies,
    }
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

/// Serves the console until `stop` resolves. Sessions are in memory here;
/// a shared store keeps them across restarts and replicas.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let console = Console::new(settings)?;
    let app = kompass_console::app(console, MemoryStore::default());
    kompass_console::serve(listener, app, stop).await?;
    Ok(())
}

/// `kompass serve console`.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (listener, addr) = bind(&cfg).await?;
    tracing::info!(%addr, "console listening");
    let s = settings(&cfg, |k| cfg.service_url(k), None);
    serve(listener, s, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
