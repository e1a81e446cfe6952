//! What goes wrong becomes a page (or, for an htmx request, an inline
//! message) that says what happened and what to do, in the reader's
//! language. Service messages and internals never reach the browser.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use tonic::Code;

use crate::i18n::Tr;
use crate::pages::Page;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NotFound,
    Forbidden,
    SignInRequired,
    /// The OpenID provider's answer was refused (state, expiry, token).
    SignInFailed,
    BadRequest,
    Unavailable,
    Conflict,
    Internal,
}

impl Problem {
    pub fn from_status(s: &tonic::Status) -> Problem {
        match s.code() {
            Code::NotFound => Problem::NotFound,
            Code::PermissionDenied => Problem::Forbidden,
            Code::Unauthenticated => Problem::SignInRequired,
            Code::InvalidArgument | Code::OutOfRange => Problem::BadRequest,
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                Problem::Unavailable
            }
            Code::Aborted | Code::AlreadyExists | Code::FailedPrecondition => Problem::Conflict,
            _ => Problem::Internal,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::Forbidden => StatusCode::FORBIDDEN,
            Problem::SignInRequired => StatusCode::UNAUTHORIZED,
            Problem::SignInFailed => StatusCode::BAD_REQUEST,
            Problem::BadRequest => StatusCode::BAD_REQUEST,
            Problem::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Conflict => StatusCode::CONFLICT,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Fluent key prefix: `{key}-title`, `{key}-what`, `{key}-do`.
    pub fn key(self) -> &'static str {
        match self {
            Problem::NotFound => "error-not-found",
            Problem::Forbidden => "error-forbidden",
            Problem::SignInRequired => "error-sign-in",
            Problem::SignInFailed => "error-sign-in-failed",
            Problem::BadRequest => "error-bad-request",
            Problem::Unavailable => "error-unavailable",
            Problem::Conflict => "error-conflict",
            Problem::Internal => "error-internal",
        }
    }
}

/// A failed page: rendered by [`IntoResponse`] with the page's context.
pub struct Failure {
    pub page: Page,
    pub problem: Problem,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: &'a Page,
    t: Tr,
    key: &'static str,
    code: u16,
}

#[derive(Template)]
#[template(path = "error_inline.html")]
struct ErrorInline {
    t: Tr,
    key: &'static str,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let t = self.page.t;
        let key = self.problem.key();
        // A page that needs a signed-in user sends a reader to sign in
        // (full pages only: an htmx fragment cannot redirect the page).
        if self.problem == Problem::SignInRequired && !self.page.htmx && self.page.user.is_none() {
            return Redirect::to(&format!(
                "/sign-in?next={}",
                crate::pages::url_encode(&self.page.path)
            ))
            .into_response();
        }
        let inline = self.page.htmx;
        let (status, body) = if inline {
            // htmx swaps only 2xx responses by default; the message replaces
            // the region the reader asked to update.
            (StatusCode::OK, ErrorInline { t, key }.render())
        } else {
            let mut page = self.page;
            page.title = t.t(&format!("{key}-title"));
            (
                self.problem.status(),
                ErrorPage {
                    page: &page,
                    t,
                    key,
                    code: self.problem.status().as_u16(),
                }
                .render(),
            )
        };
        match body {
            Ok(html) => {
                let mut r = (
                    status,
                    [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    html,
                )
                    .into_response();
                if inline {
                    // Into the page's message region, which announces it.
                    let h = r.headers_mut();
                    h.insert("hx-retarget", http::HeaderValue::from_static("#messages"));
                    h.insert("hx-reswap", http::HeaderValue::from_static("innerHTML"));
                    h.insert(
                        "hx-reselect",
                        http::HeaderValue::from_static("#error-notice"),
                    );
                }
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "rendering the error page");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
