//! Pages. Every handler takes a [`Page`] (language, reader, request kind)
//! and returns HTML or a [`Failure`].

pub mod comparison;
pub mod home;
pub mod language;
pub mod report;
pub mod results;
pub mod signin;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::response::IntoResponse;
use http::request::Parts;
use tower_sessions::Session;

use crate::Console;
use crate::error::{Failure, Problem};
use crate::i18n::{LANG_COOKIE, Lang, Tr};
use crate::session::{SIGNED_IN, SignedIn};

/// What every page knows about its request.
#[derive(Clone)]
pub struct Page {
    pub t: Tr,
    pub user: Option<SignedIn>,
    /// Sent by htmx for a partial update.
    pub htmx: bool,
    /// Path and query, for the language switch to come back to.
    pub path: String,
    pub title: String,
    pub session: Option<Session>,
    /// Where the sign-out form posts: the provider's logout with OpenID
    /// Connect, else the console's own.
    pub sign_out_action: &'static str,
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

impl FromRequestParts<Console> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Console,
    ) -> Result<Self, Self::Rejection> {
        let lang = cookie(parts, LANG_COOKIE)
            .and_then(Lang::parse)
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or_default();
        let session = Session::from_request_parts(parts, state).await.ok();
        let user = match &session {
            Some(s) => s.get::<SignedIn>(SIGNED_IN).await.ok().flatten(),
            None => None,
        };
        Ok(Page {
            t: Tr(lang),
            user,
            htmx: parts.headers.contains_key("hx-request"),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            title: String::new(),
            session,
            sign_out_action: state.sign_out_action(),
        })
    }
}

impl Page {
    /// A page context with no request behind it (default language, nobody
    /// signed in).
    pub fn bare(c: &Console) -> Page {
        Page {
            t: Tr(Lang::default()),
            user: None,
            htmx: false,
            path: "/".into(),
            title: String::new(),
            session: None,
            sign_out_action: c.sign_out_action(),
        }
    }

    pub fn titled(mut self, key: &str) -> Page {
        self.title = self.t.t(key);
        self
    }

    pub fn fail(&self, problem: Problem) -> Failure {
        Failure {
            page: self.clone(),
            problem,
        }
    }

    /// A service's refusal as a page; its message stays in the log.
    pub fn grpc(&self, s: tonic::Status) -> Failure {
        let problem = Problem::from_status(&s);
        if problem == Problem::Internal || problem == Problem::Unavailable {
            tracing::warn!(code = ?s.code(), message = s.message(), path = %self.path, "service call failed");
        } else {
            tracing::debug!(code = ?s.code(), message = s.message(), path = %self.path, "service refused");
        }
        self.fail(problem)
    }

    pub fn lang(&self) -> &'static str {
        self.t.lang()
    }

    /// The language links: code, own name, current.
    pub fn languages(&self) -> Vec<(&'static str, String, bool)> {
        Lang::ALL
            .iter()
            .map(|l| {
                (
                    l.code(),
                    Tr(*l).t(&format!("lang-{}", l.code())),
                    *l == self.t.0,
                )
            })
            .collect()
    }

    pub fn next(&self) -> String {
        url_encode(&self.path)
    }

    pub fn signed_in(&self) -> bool {
        self.user.is_some()
    }

    pub fn user_name(&self) -> &str {
        self.user
            .as_ref()
            .map(|u| u.display_name.as_str())
            .unwrap_or("")
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Only paths on this site are followed after sign-in or a language switch.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

/// Ids in resource names, checked before they go into a URL or a request.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct NotFoundPage {
    page: Page,
    t: Tr,
    key: &'static str,
    code: u16,
}

pub async fn not_found(page: Page) -> impl IntoResponse {
    let page = page.titled("error-not-found-title");
    let t = page.t;
    (
        http::StatusCode::NOT_FOUND,
        NotFoundPage {
            page,
            t,
            key: Problem::NotFound.key(),
            code: 404,
        },
    )
}
