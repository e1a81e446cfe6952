//! Signing in. With OpenID Connect configured the provider's flow (routes
//! under `/auth/`) is the only way in; `kompass dev` offers its demo users,
//! one click each.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use kompass_auth::{Claims, mint_hs256};
use serde::Deserialize;

use crate::error::{Failure, Problem};
use crate::i18n::Tr;
use crate::pages::{Page, local_path, url_encode};
use crate::session::{SignedIn, sign_in, sign_out as end_session};
use crate::{Console, DevUser};

#[derive(Debug, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

pub struct Offer {
    pub id: String,
    pub name: String,
    pub what: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub page: Page,
    pub t: Tr,
    pub oidc: bool,
    pub users: Vec<Offer>,
    pub next: String,
    pub oidc_href: String,
}

fn what(t: Tr, u: &DevUser) -> String {
    match (u.roles.first(), &u.admin_of) {
        (Some(r), _) => t.t(&format!("role-{r}")),
        (None, Some(tn)) => t.ta("role-tenant-admin-of", &[("tenant", tn.clone())]),
        _ => String::new(),
    }
}

pub async fn page(
    State(c): State<Console>,
    page: Page,
    Query(q): Query<Next>,
) -> impl IntoResponse {
    let page = page.titled("sign-in-title");
    let t = page.t;
    let next = local_path(q.next.as_deref());
    SignInPage {
        oidc: c.oidc.is_some(),
        users: c
            .dev_sign_in()
            .map(|d| {
                d.users
                    .iter()
                    .map(|u| Offer {
                        id: u.id.clone(),
                        name: u.display_name.clone(),
                        what: what(t, u),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        oidc_href: format!("/auth/login?next={}", url_encode(&next)),
        next,
        page,
        t,
    }
}

#[derive(Debug, Deserialize)]
pub struct DevForm {
    pub user: String,
    pub next: Option<String>,
}

pub async fn dev_sign_in(
    State(c): State<Console>,
    page: Page,
    Form(form): Form<DevForm>,
) -> Result<Response, Failure> {
    // Refused whenever OpenID Connect is configured, and outside `kompass dev`.
    let Some(dev) = c.dev_sign_in() else {
        return Err(page.fail(Problem::Forbidden));
    };
    let Some(u) = dev.users.iter().find(|u| u.id == form.user) else {
        return Err(page.fail(Problem::BadRequest));
    };
    let roles: Vec<&str> = u.roles.iter().map(String::as_str).collect();
    let claims = Claims::new(
        &dev.issuer,
        &dev.audience,
        &u.id,
        &roles,
        Duration::from_secs(8 * 3600),
    );
    let who = SignedIn {
        user_id: u.id.clone(),
        display_name: u.display_name.clone(),
        token: mint_hs256(&dev.secret, &claims),
        roles: u.roles.clone(),
    };
    let Some(session) = &page.session else {
        return Err(page.fail(Problem::Internal));
    };
    sign_in(session, &who).await.map_err(|e| {
        tracing::error!(error = %e, "storing the session");
        page.fail(Problem::Unavailable)
    })?;
    let next = local_path(form.next.as_deref());
    let next = if next == "/" {
        "/home".to_string()
    } else {
        next
    };
    Ok(Redirect::to(&next).into_response())
}

pub async fn sign_out(page: Page) -> Result<Response, Failure> {
    if let Some(s) = &page.session {
        end_session(s).await.map_err(|e| {
            tracing::error!(error = %e, "ending the session");
            page.fail(Problem::Unavailable)
        })?;
    }
    Ok(Redirect::to("/").into_response())
}
