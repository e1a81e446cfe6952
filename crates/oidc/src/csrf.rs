//! Cross-site request forgery defence for the browser console: a state-changing
//! request (any method but GET, HEAD and OPTIONS) is refused when the browser
//! says it comes from another site. Browsers send `Sec-Fetch-Site` (all current
//! ones) or at least `Origin` on such requests; a request with neither is not
//! from a browser form or script, so it carries no ambient cookie risk beyond
//! what SameSite=Lax already blocks.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use tower::{Layer, Service};

/// Why a request was refused, or `Ok` when it may pass.
pub fn check(method: &Method, headers: &HeaderMap, trusted: &[String]) -> Result<(), &'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(o) = origin
        && trusted.iter().any(|t| t.eq_ignore_ascii_case(o))
    {
        return Ok(());
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `none`: typed into the address bar or a bookmark, not another page.
        Some("same-origin") | Some("none") => return Ok(()),
        // `same-site` too: a sibling subdomain is another party.
        Some(_) => return Err("cross-site request refused (Sec-Fetch-Site)"),
        None => {}
    }
    let Some(origin) = origin else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err("cross-origin request refused (Origin)"),
    }
}

/// The tower layer applying [`check`]; refused requests get 403.
#[derive(Clone, Default)]
pub struct CsrfLayer {
    trusted: Arc<Vec<String>>,
}

impl CsrfLayer {
    pub fn new() -> CsrfLayer {
        CsrfLayer::default()
    }

    /// An origin (`https://kompass.example.se`) always accepted, e.g. the public
    /// URL when a proxy rewrites `Host`.
    pub fn trust_origin(mut self, origin: &str) -> CsrfLayer {
        Arc::make_mut(&mut self.trusted).push(origin.trim_end_matches('/').to_string());
        self
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = Csrf<S>;
    fn layer(&self, inner: S) -> Csrf<S> {
        Csrf {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Csrf<S> {
    inner: S,
    trusted: Arc<Vec<String>>,
}

impl<S, B> Service<Request<B>> for Csrf<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        S::Future,
        std::future::Ready<Result<Response<Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match check(req.method(), req.headers(), &self.trusted) {
            Ok(()) => futures_util::future::Either::Left(self.inner.call(req)),
            Err(why) => {
                tracing::info!(method = %req.method(), path = req.uri().path(), why, "csrf");
                let res = Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Body::from(
                        "403: this request came from another site and was refused.\n\
                         403: begäran kom från en annan webbplats och avvisades.\n",
                    ))
                    .expect("static response");
                futures_util::future::Either::Right(std::future::ready(Ok(res)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    async fn status(layer: CsrfLayer, r: Request<Body>) -> StatusCode {
        let app = Router::new()
            .route("/x", post(|| async { "done" }).get(|| async { "read" }))
            .layer(layer);
        app.oneshot(r).await.unwrap().status()
    }

    #[tokio::test]
    async fn same_origin_passes_cross_site_is_refused() {
        let l = CsrfLayer::new();
        let host = ("host", "console.example.se");
        assert_eq!(
            status(
                l.clone(),
                req("POST", &[host, ("sec-fetch-site", "same-origin")])
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            status(
                l.clone(),
                req("POST", &[host, ("sec-fetch-site", "cross-site")])
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(
                l.clone(),
                req("POST", &[host, ("sec-fetch-site", "same-site")])
            )
            .await,
            StatusCode::FORBIDDEN
        );
        // Older browsers: Origin only.
        assert_eq!(
            status(
                l.clone(),
                req("POST", &[host, ("origin", "https://console.example.se")])
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            status(
                l.clone(),
                req("POST", &[host, ("origin", "https://evil.example")])
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(l.clone(), req("DELETE", &[host, ("origin", "null")])).await,
            StatusCode::FORBIDDEN
        );
        // Reads pass whatever the headers say.
        assert_eq!(
            status(
                l.clone(),
                req("GET", &[host, ("sec-fetch-site", "cross-site")])
            )
            .await,
            StatusCode::OK
        );
        // Not a browser: no cookies sent by a third-party page, nothing to forge.
        assert_eq!(status(l, req("POST", &[host])).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn trusted_origin_behind_a_proxy() {
        let l = CsrfLayer::new().trust_origin("https://kompass.example.se/");
        let internal = ("host", "console:8080");
        assert_eq!(
            status(
                l.clone(),
                req(
                    "POST",
                    &[internal, ("origin", "https://kompass.example.se")]
                )
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            status(
                l,
                req(
                    "POST",
                    &[
                        internal,
                        ("origin", "https://other.example.se"),
                        ("sec-fetch-site", "cross-site")
                    ]
                )
            )
            .await,
            StatusCode::FORBIDDEN
        );
    }
}
