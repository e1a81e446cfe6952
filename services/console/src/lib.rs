//! The browser console: HTML rendered on the server (askama), htmx for
//! partial updates, every figure fetched from the four services over gRPC
//! with the signed-in user's token. The console keeps sessions and nothing
//! else; every permission is decided by the services.
// A `Failure` carries the rendered page context it needs to answer in the
// reader's language; it is built once per failed request, so its size does
// not matter on the happy path.
#![allow(clippy::result_large_err)]

pub mod assets;
pub mod charts;
pub mod error;
pub mod grpc;
pub mod i18n;
pub mod oidc;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tower_sessions::SessionStore;

pub use session::{CurrentUser, SignedIn, session_layer};
pub use tower_sessions::MemoryStore;

/// A user offered on the development sign-in page.
#[derive(Debug, Clone)]
pub struct DevUser {
    pub id: String,
    pub display_name: String,
    pub roles: Vec<String>,
    /// Tenant the user administers, for the page's description.
    pub admin_of: Option<String>,
}

/// Development sign-in: tokens minted with the platform's HS256 secret.
#[derive(Debug, Clone)]
pub struct DevSignIn {
    pub secret: String,
    pub issuer: String,
    pub audience: String,
    pub users: Vec<DevUser>,
}

/// Where the console finds the services and how it signs people in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tenancy_url: String,
    pub assessment_url: String,
    pub projects_url: String,
    pub reporting_url: String,
    /// `Some` only in `kompass dev`.
    pub dev: Option<DevSignIn>,
    /// Sign-in at an OpenID Connect provider; when set, development sign-in
    /// is refused whatever else is configured.
    pub oidc: Option<kompass_oidc::OidcSettings>,
    /// Secure cookies (behind HTTPS).
    pub secure_cookies: bool,
    /// A session unused this long ends (`KOMPASS_SESSION_TTL_SECS`).
    pub session_ttl: std::time::Duration,
}

#[derive(Clone)]
pub struct Console(Arc<Inner>);

pub struct Inner {
    pub tenancy: Channel,
    pub assessment: Channel,
    pub projects: Channel,
    pub reporting: Channel,
    pub dev: Option<DevSignIn>,
    pub oidc: Option<kompass_oidc::OidcSettings>,
    pub secure_cookies: bool,
    pub session_ttl: std::time::Duration,
}

impl std::ops::Deref for Console {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("invalid service URL {0:?}: {1}")]
    Url(String, String),
    #[error("console: {0}")]
    Io(#[from] std::io::Error),
}

fn channel(url: &str) -> Result<Channel, ConsoleError> {
    // Lazy: the console starts (and shows its error pages) even while a
    // service is still coming up.
    Ok(Channel::from_shared(url.to_string())
        .map_err(|e| ConsoleError::Url(url.into(), e.to_string()))?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(30))
        .connect_lazy())
}

impl Console {
    pub fn new(s: Settings) -> Result<Console, ConsoleError> {
        Ok(Console(Arc::new(Inner {
            tenancy: channel(&s.tenancy_url)?,
            assessment: channel(&s.assessment_url)?,
            projects: channel(&s.projects_url)?,
            reporting: channel(&s.reporting_url)?,
            dev: s.dev,
            oidc: s.oidc,
            secure_cookies: s.secure_cookies,
            session_ttl: s.session_ttl,
        })))
    }

    /// Development sign-in is offered only without OpenID Connect.
    pub fn dev_sign_in(&self) -> Option<&DevSignIn> {
        if self.oidc.is_some() {
            return None;
        }
        self.dev.as_ref()
    }

    pub fn sign_out_action(&self) -> &'static str {
        if self.oidc.is_some() {
            "/auth/logout"
        } else {
            "/sign-out"
        }
    }
}

/// The console's routes without the session layer (see [`app`]).
pub fn routes(console: Console) -> Router {
    use pages::*;
    Router::new()
        .route("/", get(results::list))
        .route("/reports/{tenant}/{evaluation}", get(report::show))
        .route(
            "/reports/{tenant}/{evaluation}/download/{format}",
            get(report::download),
        )
        .route("/reports/{tenant}/{evaluation}/verify", get(report::verify))
        .route("/open-data", get(results::open_data))
        .route("/open-data/results.csv", get(results::open_data_csv))
        .route("/open-data/results.json", get(results::open_data_json))
        .route("/comparison", get(comparison::show))
        .route("/comparison.csv", get(comparison::csv))
        .route("/comparison.pdf", get(comparison::pdf))
        .route("/home", get(home::show))
        .route("/sign-in", get(signin::page))
        .route("/dev/sign-in", post(signin::dev_sign_in))
        .route("/sign-out", post(signin::sign_out))
        .route("/language/{code}", get(language::switch))
        .route("/assets/{*path}", get(assets::serve))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .with_state(console)
}

/// The whole console under a session layer built from `store`: with OpenID
/// Connect configured, the provider's flow under `/auth/`; CSRF defence on
/// every state-changing request.
pub fn app<S: SessionStore + Clone>(console: Console, store: S) -> Router {
    let (secure, ttl) = (console.secure_cookies, console.session_ttl);
    let mut csrf = kompass_oidc::CsrfLayer::new();
    let mut router = routes(console.clone());
    if let Some(settings) = console.oidc.clone() {
        // The public origin, for a proxy that rewrites `Host`.
        if let Ok(u) = url::Url::parse(&settings.redirect_url) {
            csrf = csrf.trust_origin(&u.origin().ascii_serialization());
        }
        let flow = kompass_oidc::Oidc::new(
            settings,
            Arc::new(oidc::ConsoleSignIn {
                console: console.clone(),
            }),
        );
        router = router.merge(flow.router().layer(axum::middleware::from_fn_with_state(
            console.clone(),
            oidc::capture_page,
        )));
    }
    router.layer(csrf).layer(session_layer(store, secure, ttl))
}

/// Serves `app` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(ConsoleError::Io)
}
