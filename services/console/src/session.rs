//! The signed-in user lives in the server-side session under one key; the
//! session layer is built in one place so other stores (Redis, PostgreSQL)
//! and the OpenID Connect routes plug in without touching the pages.

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

/// Session key of [`SignedIn`].
pub const SIGNED_IN: &str = "kompass.signed_in";

/// Cookie name of the session id.
pub const COOKIE: &str = "kompass_session";

/// Who is signed in: enough to call the services on their behalf and to
/// greet them, nothing more.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    pub display_name: String,
    /// Bearer token sent to every service.
    pub token: String,
    /// Platform roles: operator, evaluator, analyst.
    pub roles: Vec<String>,
}

impl SignedIn {
    pub fn has_role(&self, r: &str) -> bool {
        self.roles.iter().any(|x| x == r)
    }
}

/// The session layer every console router runs under. `secure` sets the
/// cookie's Secure flag (on behind HTTPS, off on plain loopback in dev); a
/// session unused for `ttl` ends.
pub fn session_layer<S: SessionStore + Clone>(
    store: S,
    secure: bool,
    ttl: std::time::Duration,
) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_name(COOKIE)
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        )))
}

/// Stores `who` in the session, replacing the session id (no fixation).
pub async fn sign_in(
    session: &Session,
    who: &SignedIn,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(SIGNED_IN, who).await
}

/// Ends the session.
pub async fn sign_out(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.flush().await
}

/// The signed-in user, if any. A session that cannot be read counts as
/// signed out rather than failing the page.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Option<SignedIn>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(session) = Session::from_request_parts(parts, state).await else {
            return Ok(CurrentUser(None));
        };
        Ok(CurrentUser(
            session.get::<SignedIn>(SIGNED_IN).await.ok().flatten(),
        ))
    }
}
