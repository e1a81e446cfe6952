use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use kompass_auth::{Caller, Claims, GrantSource, IdentityLinks, Verifier};
use kompass_core::i18n::{self, Lang};
use kompass_core::{Error, UserId};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;

/// Turns a bearer token into a [`Caller`].
pub struct Authenticator {
    verifier: Option<Verifier>,
    grants: Arc<dyn GrantSource>,
    /// Provider identities linked to platform users; `None`: `sub` is the user id.
    identities: Option<Arc<dyn IdentityLinks>>,
    /// Full method paths (`/pkg.Service/Method`) that accept no token.
    anonymous: HashSet<String>,
}

impl Authenticator {
    pub fn new(verifier: Option<Verifier>, grants: Arc<dyn GrantSource>) -> Self {
        Authenticator {
            verifier,
            grants,
            identities: None,
            anonymous: HashSet::new(),
        }
    }

    pub fn with_identity_links(mut self, links: Arc<dyn IdentityLinks>) -> Self {
        self.identities = Some(links);
        self
    }

    /// The platform user a verified token speaks for. Provider (JWKS) tokens
    /// need a linked identity (`iss` + `sub`), made on the first call carrying
    /// the verified e-mail of an open invitation; development (HS256) tokens
    /// carry the user id as `sub`.
    async fn resolve_user(&self, provider: bool, claims: &Claims) -> Result<UserId, Error> {
        if let (true, Some(links)) = (provider, &self.identities) {
            let email = claims
                .email
                .as_deref()
                .filter(|_| claims.email_verified == Some(true));
            return links
                .linked_user(&claims.iss, &claims.sub, email)
                .await?
                .ok_or_else(|| {
                    Error::denied(
                        "your sign-in is not linked to a Kompass user: ask a platform operator, or your municipality's Kompass administrator, to invite your verified e-mail address",
                        "din inloggning är inte kopplad till någon Kompass-användare: be en plattformsoperatör, eller din kommuns Kompass-administratör, att bjuda in din verifierade e-postadress",
                    )
                });
        }
        UserId::parse(&claims.sub).map_err(|_| {
            Error::unauthenticated(
                "token subject is not a valid user id",
                "tokenets subjekt är inget giltigt användar-id",
            )
        })
    }

    pub fn allow_anonymous(mut self, methods: &[&str]) -> Self {
        self.anonymous.extend(methods.iter().map(|m| m.to_string()));
        self
    }

    pub async fn authenticate(&self, header: Option<&str>, method: &str) -> Result<Caller, Error> {
        let Some(header) = header else {
            if self.anonymous.contains(method) {
                return Ok(Caller::anonymous());
            }
            return Err(Error::unauthenticated(
                "missing bearer token: send `authorization: Bearer <token>`",
                "bearer-token saknas: skicka `authorization: Bearer <token>`",
            ));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                Error::unauthenticated(
                    "authorization header must be `Bearer <token>`",
                    "authorization-huvudet måste vara `Bearer <token>`",
                )
            })?;
        let verifier = self.verifier.as_ref().ok_or_else(|| {
            Error::unauthenticated(
                "this server has no token verification configured",
                "servern har ingen tokenverifiering konfigurerad",
            )
        })?;
        let (claims, provider) = verifier.verify_token(token.trim()).await.map_err(|e| {
            Error::unauthenticated(
                format!("bearer token rejected: {e}"),
                format!("bearer-token avvisades: {e}"),
            )
        })?;
        let user = self.resolve_user(provider, &claims).await?;
        // Roles in the token are ignored: the catalog says what the caller may
        // do, on every request (through the access cache, which every change
        // invalidates), so a revoked role or a deactivated user takes effect
        // on the next call.
        let grants = self
            .grants
            .grants(&user)
            .await?
            .unwrap_or_else(|| kompass_auth::Grants {
                active: true,
                ..Default::default()
            });
        if !grants.active {
            return Err(Error::denied(
                format!("user {user} is deactivated"),
                format!("användaren {user} är avaktiverad"),
            ));
        }
        Ok(Caller {
            user: Some(user),
            platform_roles: grants.platform_roles,
            memberships: grants.memberships,
        })
    }
}

/// The caller the context layer put into the request.
pub fn caller<T>(req: &tonic::Request<T>) -> Caller {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default()
}

#[derive(Clone)]
pub struct ContextLayer {
    auth: Arc<Authenticator>,
    service: &'static str,
}

impl ContextLayer {
    pub fn new(auth: Arc<Authenticator>, service: &'static str) -> Self {
        ContextLayer { auth, service }
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ContextService {
            inner,
            auth: self.auth.clone(),
            service: self.service,
        }
    }
}

#[derive(Clone)]
pub struct ContextService<S> {
    inner: S,
    auth: Arc<Authenticator>,
    service: &'static str,
}

type BoxFuture<T, E> = Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send>>;

fn is_infrastructure(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

impl<S, B> Service<Request<B>> for ContextService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let path = req.uri().path().to_string();
        let lang = req
            .headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or_default();
        if is_infrastructure(&path) {
            return Box::pin(inner.call(req));
        }
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = self.service,
            rpc.method = %path,
            tenant = tracing::field::Empty,
            principal = tracing::field::Empty,
        );
        let fut = async move {
            let header = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match auth.authenticate(header.as_deref(), &path).await {
                Ok(caller) => {
                    let who = caller
                        .user
                        .as_ref()
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "anonymous".into());
                    tracing::Span::current().record("principal", who.as_str());
                    req.extensions_mut().insert(caller);
                    let res = inner.call(req).await;
                    if let Ok(r) = &res {
                        let code = r
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("0");
                        tracing::debug!(grpc.status = code, "rpc done");
                    }
                    res
                }
                Err(e) => {
                    tracing::info!(error = %e, "rejected");
                    Ok(tonic::Status::from(e).into_http())
                }
            }
        }
        .instrument(span);
        Box::pin(i18n::with_lang(lang, fut))
    }
}
