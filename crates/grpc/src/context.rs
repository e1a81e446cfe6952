use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use http::{Request, Response};
use kompass_auth::{Caller, Claims, GrantSource, IdentityLinks, Verifier};
use kompass_core::i18n::{self, Lang};
use kompass_core::{Error, UserId};
use tokio::sync::Semaphore;
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
    limit: Option<Arc<Semaphore>>,
}

impl ContextLayer {
    pub fn new(auth: Arc<Authenticator>, service: &'static str) -> Self {
        ContextLayer {
            auth,
            service,
            limit: None,
        }
    }

    /// Handle at most `n` calls at once (0: no limit); the next call is
    /// refused with UNAVAILABLE at once, so a flood cannot queue up without
    /// bound and a client can retry elsewhere. Health and reflection are
    /// never refused: a busy server is not a dead one.
    pub fn with_concurrency_limit(mut self, n: usize) -> Self {
        self.limit = (n > 0).then(|| Arc::new(Semaphore::new(n)));
        self
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ContextService {
            inner,
            auth: self.auth.clone(),
            service: self.service,
            limit: self.limit.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ContextService<S> {
    inner: S,
    auth: Arc<Authenticator>,
    service: &'static str,
    limit: Option<Arc<Semaphore>>,
}

fn busy() -> Error {
    Error::Unavailable(kompass_core::Msg::new(
        "the server is busy; try again in a moment",
        "servern är upptagen; försök igen om en stund",
    ))
}

/// A panic in a handler fails that call with INTERNAL; without this the
/// panic would unwind through the connection task and break every other
/// call multiplexed on the same HTTP/2 connection.
fn panicked(method: &str, panic: Box<dyn std::any::Any + Send>) -> Response<Body> {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    tonic::Status::from(Error::Internal(format!(
        "handler of {method} panicked: {what}"
    )))
    .into_http()
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
        let permit = match &self.limit {
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    tracing::warn!(method = %path, "shedding load: concurrency limit reached");
                    let e = busy();
                    let res = tonic::Status::new(e.code(), e.message(lang)).into_http();
                    return Box::pin(async move { Ok(res) });
                }
            },
            None => None,
        };
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
                    let res = match std::panic::AssertUnwindSafe(inner.call(req))
                        .catch_unwind()
                        .await
                    {
                        Ok(res) => res,
                        Err(panic) => Ok(panicked(&path, panic)),
                    };
                    drop(permit);
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    struct NoGrants;

    #[async_trait::async_trait]
    impl GrantSource for NoGrants {
        async fn grants(&self, _: &UserId) -> Result<Option<kompass_auth::Grants>, Error> {
            Ok(None)
        }
    }

    /// A service whose `/t.S/Slow` waits for `open`, `/t.S/Panic` panics and
    /// everything else answers at once.
    fn inner(
        open: tokio::sync::watch::Receiver<bool>,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(move |req: Request<Body>| {
            let mut open = open.clone();
            async move {
                match req.uri().path() {
                    "/t.S/Slow" => {
                        let _ = open.wait_for(|o| *o).await;
                    }
                    "/t.S/Panic" => panic!("a bug in a handler"),
                    _ => {}
                }
                Ok::<_, Infallible>(Response::new(Body::empty()))
            }
        })
    }

    fn layer(limit: usize) -> ContextLayer {
        let auth = Authenticator::new(None, Arc::new(NoGrants)).allow_anonymous(&[
            "/t.S/Slow",
            "/t.S/Panic",
            "/t.S/Fast",
        ]);
        ContextLayer::new(Arc::new(auth), "t").with_concurrency_limit(limit)
    }

    fn req(path: &str, lang: &str) -> Request<Body> {
        Request::builder()
            .uri(format!("http://localhost{path}"))
            .header("accept-language", lang)
            .body(Body::empty())
            .unwrap()
    }

    /// The gRPC status of a response (`None`: OK, no status in the headers).
    fn status(r: &Response<Body>) -> Option<tonic::Status> {
        tonic::Status::from_header_map(r.headers())
    }

    async fn call<S>(svc: &mut S, r: Request<Body>) -> Response<Body>
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        svc.call(r).await.unwrap()
    }

    #[tokio::test]
    async fn calls_past_the_limit_are_shed_with_unavailable_and_health_never_is() {
        let (open, rx) = tokio::sync::watch::channel(false);
        let svc = layer(2).layer(inner(rx));
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = svc.clone();
            held.push(tokio::spawn(async move {
                call(&mut s, req("/t.S/Slow", "en")).await
            }));
        }
        // Both slow calls hold their permits once called.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;

        let mut s = svc.clone();
        let shed = status(&call(&mut s, req("/t.S/Fast", "sv")).await).expect("refused");
        assert_eq!(shed.code(), tonic::Code::Unavailable);
        assert_eq!(
            shed.message(),
            "servern är upptagen; försök igen om en stund"
        );
        let shed = status(&call(&mut s, req("/t.S/Fast", "en")).await).expect("refused");
        assert_eq!(shed.message(), "the server is busy; try again in a moment");
        let health = call(&mut s, req("/grpc.health.v1.Health/Check", "en")).await;
        assert!(status(&health).is_none(), "health is never shed");

        open.send(true).unwrap();
        for h in held {
            assert!(status(&h.await.unwrap()).is_none());
        }
        // The permits came back.
        let after = call(&mut s, req("/t.S/Fast", "en")).await;
        assert!(status(&after).is_none());
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_own_call_with_internal_only() {
        let (_open, rx) = tokio::sync::watch::channel(true);
        let mut svc = layer(1).layer(inner(rx));
        let r = call(&mut svc, req("/t.S/Panic", "sv")).await;
        let st = status(&r).expect("an error status");
        assert_eq!(st.code(), tonic::Code::Internal);
        assert_eq!(st.message(), "internt fel; det har loggats för driften");
        // The service (and its single permit) is still there.
        let r = call(&mut svc, req("/t.S/Fast", "en")).await;
        assert!(status(&r).is_none());
    }

    #[tokio::test]
    async fn a_limit_of_zero_sheds_nothing() {
        let (open, rx) = tokio::sync::watch::channel(false);
        let svc = layer(0).layer(inner(rx));
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut s = svc.clone();
            held.push(tokio::spawn(async move {
                call(&mut s, req("/t.S/Slow", "en")).await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut s = svc.clone();
        assert!(status(&call(&mut s, req("/t.S/Fast", "en")).await).is_none());
        open.send(true).unwrap();
        for h in held {
            assert!(status(&h.await.unwrap()).is_none());
        }
    }
}
