//! Switching language: a plain link (works without JavaScript) that
//! remembers the choice in a cookie and goes back to the page.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::i18n::{LANG_COOKIE, Lang};
use crate::pages::{Page, local_path};

#[derive(Debug, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

pub async fn switch(page: Page, Path(code): Path<String>, Query(q): Query<Next>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return page.fail(crate::error::Problem::NotFound).into_response();
    };
    let mut r = Redirect::to(&local_path(q.next.as_deref())).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(http::header::SET_COOKIE, v);
    }
    r
}
