//! OpenID Connect authorization code flow with PKCE (S256) for the console:
//! `GET /auth/login`, `GET /auth/callback`, `POST /auth/logout`.
//!
//! State, nonce and the PKCE verifier live in the server-side session, never
//! in the browser; the callback takes them out (one use), refuses a wrong
//! state or a login older than [`OidcSettings::login_timeout`], and verifies
//! the ID token (signature by the provider's JWKS, issuer, audience, expiry,
//! nonce) before the console's [`SignInHandler`] sees the identity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreClient, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tower_sessions::Session;
use tower_sessions::session::Expiry;

/// Session key of the login in progress.
pub const PENDING_KEY: &str = "kompass.oidc.pending";
/// Session key of the signed-in user's ID token (the hint for RP-initiated logout).
pub const ID_TOKEN_KEY: &str = "kompass.oidc.id_token";

/// How the console talks to its provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `{public url}/auth/callback`.
    pub redirect_url: String,
    /// Where the provider sends the browser after logout; default: the
    /// redirect URL's origin.
    pub post_logout_redirect_url: Option<String>,
    /// A login not completed within this is refused at the callback.
    pub login_timeout: Duration,
}

impl OidcSettings {
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
        redirect_url: &str,
    ) -> Self {
        OidcSettings {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_id: client_id.into(),
            client_secret: client_secret.map(str::to_string),
            redirect_url: redirect_url.into(),
            post_logout_redirect_url: None,
            login_timeout: Duration::from_secs(600),
        }
    }

    fn post_logout(&self) -> String {
        if let Some(u) = &self.post_logout_redirect_url {
            return u.clone();
        }
        match url::Url::parse(&self.redirect_url) {
            Ok(u) => format!("{}/", u.origin().ascii_serialization()),
            Err(_) => "/".into(),
        }
    }
}

/// What the provider vouched for, handed to the console after the callback.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The ID token: the bearer token the console sends to the services, which
    /// verify it by the provider's JWKS.
    pub id_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a sign-in did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("no sign-in is in progress in this session (it expired or was already used)")]
    NoLoginInProgress,
    #[error("the sign-in took too long; start again")]
    LoginExpired,
    #[error("the state returned by the identity provider does not match this session")]
    StateMismatch,
    #[error("the identity provider refused the sign-in: {0}")]
    Provider(String),
    #[error("the identity provider cannot be reached or answered unexpectedly: {0}")]
    Unavailable(String),
    #[error("the identity provider's ID token was not accepted: {0}")]
    InvalidToken(String),
}

impl SignInError {
    pub fn status(&self) -> StatusCode {
        match self {
            SignInError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            SignInError::Provider(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The console's side of a sign-in.
#[async_trait::async_trait]
pub trait SignInHandler: Send + Sync + 'static {
    /// The provider vouched for `identity`, in a session with a fresh id. Put
    /// what the console needs into the session and answer, usually with a
    /// redirect to `return_to` (a local path).
    async fn signed_in(&self, session: &Session, identity: Identity, return_to: &str) -> Response;

    /// A refused sign-in: a page saying what happened and to start again.
    async fn failed(&self, _session: &Session, why: SignInError) -> Response {
        (why.status(), format!("Sign-in failed: {why}\n")).into_response()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    /// Unix seconds.
    started: i64,
}

struct Discovered {
    meta: ProviderMetadataWithLogout,
    at: Instant,
}

/// Provider keys and endpoints are re-read this often, so rotated keys are
/// picked up without a restart.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

pub struct Oidc {
    settings: OidcSettings,
    http: openidconnect::reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    handler: Arc<dyn SignInHandler>,
}

/// A local path only, so `return_to` cannot send the browser elsewhere.
fn local_path(p: Option<&str>) -> String {
    match p {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/".into(),
    }
}

impl Oidc {
    pub fn new(settings: OidcSettings, handler: Arc<dyn SignInHandler>) -> Arc<Oidc> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let the provider's answers point us anywhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Arc::new(Oidc {
            settings,
            http,
            discovered: RwLock::new(None),
            handler,
        })
    }

    /// The routes the console mounts: `/auth/login`, `/auth/callback`, `/auth/logout`.
    pub fn router<S: Clone + Send + Sync + 'static>(self: &Arc<Self>) -> Router<S> {
        Router::new()
            .route("/auth/login", get(login))
            .route("/auth/callback", get(callback))
            .route("/auth/logout", post(logout))
            .with_state(self.clone())
    }

    async fn metadata(&self) -> Result<Arc<Discovered>, SignInError> {
        if let Some(d) = self.discovered.read().await.as_ref()
            && d.at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| SignInError::Unavailable(format!("issuer URL: {e}")))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignInError::Unavailable(format!("discovery: {e}")))?;
        let d = Arc::new(Discovered {
            meta,
            at: Instant::now(),
        });
        *self.discovered.write().await = Some(d.clone());
        Ok(d)
    }

    fn client(
        &self,
        d: &Discovered,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        SignInError,
    > {
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| SignInError::Unavailable(format!("redirect URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            d.meta.clone(),
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    async fn start(&self, session: &Session, return_to: String) -> Result<Response, SignInError> {
        let d = self.metadata().await?;
        let client = self.client(&d)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
            started: Utc::now().timestamp(),
        };
        session
            .insert(PENDING_KEY, pending)
            .await
            .map_err(|e| SignInError::Unavailable(format!("session store: {e}")))?;
        Ok(Redirect::to(url.as_str()).into_response())
    }

    async fn finish(&self, session: &Session, q: CallbackQuery) -> Result<Response, SignInError> {
        // Taken out whatever happens next: a state is good for one try.
        let pending: Option<Pending> = session
            .remove(PENDING_KEY)
            .await
            .map_err(|e| SignInError::Unavailable(format!("session store: {e}")))?;
        let Some(p) = pending else {
            return Err(SignInError::NoLoginInProgress);
        };
        if q.state.as_deref() != Some(p.state.as_str()) {
            return Err(SignInError::StateMismatch);
        }
        if Utc::now().timestamp() - p.started > self.settings.login_timeout.as_secs() as i64 {
            return Err(SignInError::LoginExpired);
        }
        if let Some(e) = q.error {
            let detail = q
                .error_description
                .map(|d| format!("{e}: {d}"))
                .unwrap_or(e);
            return Err(SignInError::Provider(detail));
        }
        let Some(code) = q.code else {
            return Err(SignInError::Provider("no authorization code".into()));
        };
        let d = self.metadata().await?;
        let client = self.client(&d)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInError::Unavailable(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(p.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SignInError::Provider(format!("token request: {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SignInError::InvalidToken("the provider sent no ID token".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(p.nonce))
            .map_err(|e| SignInError::InvalidToken(e.to_string()))?;
        let _ = tokens.access_token();
        let identity = Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            id_token: id_token.to_string(),
            expires_at: claims.expiration(),
        };
        // A fresh session id at the privilege change defeats session fixation.
        session
            .cycle_id()
            .await
            .map_err(|e| SignInError::Unavailable(format!("session store: {e}")))?;
        session
            .insert(ID_TOKEN_KEY, identity.id_token.clone())
            .await
            .map_err(|e| SignInError::Unavailable(format!("session store: {e}")))?;
        // The session lasts as long as the token the services accept.
        let exp = time::OffsetDateTime::from_unix_timestamp(identity.expires_at.timestamp())
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        session.set_expiry(Some(Expiry::AtDateTime(exp)));
        Ok(self
            .handler
            .signed_in(session, identity, &p.return_to)
            .await)
    }

    async fn end(&self, session: &Session) -> Response {
        let id_token: Option<String> = session.get(ID_TOKEN_KEY).await.ok().flatten();
        if let Err(e) = session.flush().await {
            tracing::warn!(error = %e, "ending the session failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed; try again.\n",
            )
                .into_response();
        }
        let end_session = match self.metadata().await {
            Ok(d) => d
                .meta
                .additional_metadata()
                .end_session_endpoint
                .as_ref()
                .map(|u| u.url().clone()),
            Err(e) => {
                tracing::warn!(error = %e, "no provider logout");
                None
            }
        };
        match end_session {
            Some(mut url) => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(t) = &id_token {
                        q.append_pair("id_token_hint", t);
                    }
                    q.append_pair("client_id", &self.settings.client_id);
                    q.append_pair("post_logout_redirect_uri", &self.settings.post_logout());
                }
                Redirect::to(url.as_str()).into_response()
            }
            None => Redirect::to("/").into_response(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    /// The console's sign-in page links with `next`.
    #[serde(alias = "next")]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn login(
    State(o): State<Arc<Oidc>>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Response {
    match o.start(&session, local_path(q.return_to.as_deref())).await {
        Ok(r) => r,
        Err(e) => o.handler.failed(&session, e).await,
    }
}

async fn callback(
    State(o): State<Arc<Oidc>>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match o.finish(&session, q).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "sign-in refused");
            o.handler.failed(&session, e).await
        }
    }
}

async fn logout(State(o): State<Arc<Oidc>>, session: Session) -> Response {
    o.end(&session).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_local() {
        assert_eq!(local_path(Some("/reports?x=1")), "/reports?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn post_logout_defaults_to_the_origin() {
        let s = OidcSettings::new(
            "https://idp",
            "c",
            None,
            "https://kompass.example.se/auth/callback",
        );
        assert_eq!(s.post_logout(), "https://kompass.example.se/");
    }
}
