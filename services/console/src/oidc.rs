//! Sign-in at the OpenID provider. The flow itself (PKCE, state, nonce, ID
//! token checks) lives in `kompass-oidc`; here the console learns who the
//! identity is from the services, with the provider's ID token as bearer, and
//! answers in the reader's language.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use kompass_oidc::{Identity, SignInError, SignInHandler};
use kompass_proto::tenancy::v1 as tpb;
use tower_sessions::Session;

use crate::Console;
use crate::error::Problem;
use crate::i18n::{Lang, Tr};
use crate::pages::Page;
use crate::session::{SignedIn, sign_in};

tokio::task_local! {
    /// The page context of the sign-in request: the flow's handler callbacks
    /// get the session only, and still answer in the reader's language.
    static PAGE: Page;
}

/// Middleware around the flow's routes that makes [`PAGE`] available.
pub async fn capture_page(State(c): State<Console>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(page) = Page::from_request_parts(&mut parts, &c).await;
    PAGE.scope(page, next.run(Request::from_parts(parts, body)))
        .await
}

fn current_page() -> Option<Page> {
    PAGE.try_with(Clone::clone).ok()
}

#[derive(Template, WebTemplate)]
#[template(path = "no_account.html")]
pub struct NoAccountPage {
    pub page: Page,
    pub t: Tr,
    /// Which e-mail the provider gave, so the reader can tell the inviter.
    pub email_line: String,
}

/// The console's side of the flow: the services decide who the identity is.
pub struct ConsoleSignIn {
    pub console: Console,
}

fn bearer<T>(token: &str, lang: Lang, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r.metadata_mut().insert(
        "accept-language",
        tonic::metadata::MetadataValue::from_static(lang.service_language()),
    );
    r
}

fn role_name(r: i32) -> Option<String> {
    let name = tpb::PlatformRole::try_from(r).ok()?.as_str_name();
    name.strip_prefix("PLATFORM_ROLE_")
        .filter(|n| *n != "UNSPECIFIED")
        .map(str::to_lowercase)
}

impl ConsoleSignIn {
    async fn who(&self, token: &str, lang: Lang, id: &Identity) -> Result<SignedIn, tonic::Status> {
        let mut users = self.console.users();
        let caller = users
            .get_caller(bearer(token, lang, tpb::GetCallerRequest {}))
            .await?
            .into_inner();
        let user_id = caller
            .user
            .strip_prefix("users/")
            .unwrap_or(&caller.user)
            .to_string();
        // The name the platform knows; the provider's as a fallback.
        let display_name = match users
            .get_user(bearer(
                token,
                lang,
                tpb::GetUserRequest {
                    name: caller.user.clone(),
                },
            ))
            .await
        {
            Ok(u) => u.into_inner().display_name,
            Err(_) => id.name.clone().unwrap_or_else(|| user_id.clone()),
        };
        Ok(SignedIn {
            user_id,
            display_name,
            token: token.to_string(),
            roles: caller
                .platform_roles
                .into_iter()
                .filter_map(role_name)
                .collect(),
        })
    }
}

fn page_or_default(c: &Console) -> Page {
    current_page().unwrap_or_else(|| Page::bare(c))
}

#[async_trait::async_trait]
impl SignInHandler for ConsoleSignIn {
    async fn signed_in(&self, session: &Session, identity: Identity, return_to: &str) -> Response {
        let page = page_or_default(&self.console);
        match self.who(&identity.id_token, page.t.0, &identity).await {
            Ok(who) => {
                if let Err(e) = sign_in(session, &who).await {
                    tracing::error!(error = %e, "storing the session");
                    return page.fail(Problem::Unavailable).into_response();
                }
                let next = if return_to == "/" { "/home" } else { return_to };
                Redirect::to(next).into_response()
            }
            Err(s) if s.code() == tonic::Code::PermissionDenied => {
                // A provider identity the catalog does not know: say whom to ask.
                let _ = session.flush().await;
                let page = page.titled("no-account-title");
                let t = page.t;
                (
                    StatusCode::FORBIDDEN,
                    NoAccountPage {
                        page,
                        t,
                        email_line: identity
                            .email
                            .map(|e| t.ta("no-account-email", &[("email", e)]))
                            .unwrap_or_default(),
                    },
                )
                    .into_response()
            }
            Err(s) => {
                let _ = session.flush().await;
                page.grpc(s).into_response()
            }
        }
    }

    async fn failed(&self, _session: &Session, why: SignInError) -> Response {
        let page = page_or_default(&self.console);
        let problem = match why {
            SignInError::Unavailable(_) => Problem::Unavailable,
            _ => Problem::SignInFailed,
        };
        page.fail(problem).into_response()
    }
}
