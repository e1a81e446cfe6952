//! Browser sign-in end to end: the console's OIDC routes against a fake
//! OpenID provider on loopback, the real services verifying the provider's
//! tokens by JWKS, and the catalog linking identities by invitation.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{Request, StatusCode, header};
use kompass_catalog::NewInvitation;
use kompass_config::ServiceKind;
use kompass_core::UserId;
use kompass_oidc::{CsrfLayer, Identity, Oidc, OidcSettings, SignInHandler, Store};
use kompass_oidc_fake::{FakeProvider, FakeUser};
use kompass_proto::tenancy::v1 as tpb;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use kompass_tests::{Options, Provider, TestEnv, authed};
use tonic::transport::Channel;
use tower::ServiceExt;
use tower_sessions::{Session, SessionManagerLayer};

const CLIENT: &str = "kompass-console";
const SECRET: &str = "console-secret";
const REDIRECT: &str = "http://console.test/auth/callback";

/// The console's side as the services see it: who the token is, by GetCaller.
struct Handler {
    users: UserServiceClient<Channel>,
}

#[async_trait::async_trait]
impl SignInHandler for Handler {
    async fn signed_in(&self, session: &Session, who: Identity, return_to: &str) -> Response {
        let mut users = self.users.clone();
        match users
            .get_caller(authed(&who.id_token, tpb::GetCallerRequest {}))
            .await
        {
            Ok(c) => {
                session.insert("user", c.into_inner().user).await.unwrap();
                Redirect::to(return_to).into_response()
            }
            Err(s) if s.code() == tonic::Code::PermissionDenied => (
                StatusCode::FORBIDDEN,
                format!("whom to ask: {}", s.message()),
            )
                .into_response(),
            Err(s) => (StatusCode::BAD_GATEWAY, s.message().to_string()).into_response(),
        }
    }
}

async fn whoami(session: Session) -> String {
    session
        .get::<String>("user")
        .await
        .unwrap()
        .unwrap_or_else(|| "nobody".into())
}

struct World {
    env: TestEnv,
    idp: FakeProvider,
    http: reqwest::Client,
}

impl World {
    async fn start() -> World {
        let idp = FakeProvider::start(CLIENT, SECRET).await;
        let env = TestEnv::start_with(Options {
            provider: Some(Provider {
                issuer: idp.issuer().into(),
                jwks_url: idp.jwks_url(),
                audience: CLIENT.into(),
            }),
            ..Default::default()
        })
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        World { env, idp, http }
    }

    fn settings(&self) -> OidcSettings {
        OidcSettings::new(self.idp.issuer(), CLIENT, Some(SECRET), REDIRECT)
    }

    async fn app(&self, settings: OidcSettings) -> Router {
        let users = UserServiceClient::new(self.env.channel(ServiceKind::Tenancy).await);
        let oidc = Oidc::new(settings, Arc::new(Handler { users }));
        let store = Store::Db(kompass_oidc::DbStore::new(
            self.env.platform.catalog.db().clone(),
        ));
        Router::new()
            .route("/whoami", get(whoami))
            .merge(oidc.router())
            .layer(CsrfLayer::new())
            .layer(SessionManagerLayer::new(store).with_secure(false))
    }

    async fn invite(&self, email: &str) -> UserId {
        let (u, _) = self
            .env
            .platform
            .catalog
            .invite(NewInvitation {
                user_id: None,
                email: email.into(),
                display_name: "Anna Berg".into(),
                platform_roles: String::new(),
                language: "sv".into(),
                invited_by: UserId::parse("operator").unwrap(),
            })
            .await
            .unwrap();
        UserId::parse(&u.id).unwrap()
    }

    /// Follows the provider's authorize redirect; returns the callback path.
    async fn at_provider(&self, authorize: &str) -> String {
        let r = self.http.get(authorize).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        let to = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        to.strip_prefix("http://console.test")
            .expect("back to the console")
            .to_string()
    }
}

fn cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("id="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

fn location(r: &Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

async fn get_(app: &Router, path: &str, cookie: Option<&str>) -> Response {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    app.clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(r: Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Starts a login; returns the session cookie and the provider URL.
async fn login(app: &Router) -> (String, String) {
    let r = get_(app, "/auth/login?return_to=/home", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (cookie(&r).expect("session cookie"), location(&r))
}

#[tokio::test]
async fn first_sign_in_links_by_verified_email_and_logout_ends_the_session() {
    let w = World::start().await;
    let anna = w.invite("Anna.Berg@ostra.se").await;
    let app = w.app(w.settings()).await;

    let (c1, authorize) = login(&app).await;
    assert_eq!(
        query(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query(&authorize, "nonce").is_some_and(|n| n.len() >= 16));
    assert!(query(&authorize, "state").is_some_and(|s| s.len() >= 16));

    w.idp
        .sign_in_as(FakeUser::new("idp-anna-1", "anna.berg@ostra.se", true));
    let back = w.at_provider(&authorize).await;
    let r = get_(&app, &back, Some(&c1)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    assert_eq!(location(&r), "/home");
    let c2 = cookie(&r).expect("a new session id after sign-in");
    assert_ne!(c1, c2, "session id must change at sign-in");
    assert!(w.idp.refusals().is_empty(), "{:?}", w.idp.refusals());

    // The identity is linked and the invitation used.
    let cat = &w.env.platform.catalog;
    assert_eq!(
        cat.linked_user(w.idp.issuer(), "idp-anna-1", None)
            .await
            .unwrap(),
        Some(anna.clone())
    );
    assert!(
        cat.invitation("anna.berg@ostra.se")
            .await
            .unwrap()
            .unwrap()
            .accepted_at
            .is_some()
    );
    assert_eq!(
        text(get_(&app, "/whoami", Some(&c2)).await).await,
        format!("users/{anna}")
    );
    assert_eq!(text(get_(&app, "/whoami", Some(&c1)).await).await, "nobody");

    // A second sign-in of the same identity needs no invitation.
    let (c3, authorize) = login(&app).await;
    let back = w.at_provider(&authorize).await;
    let r = get_(&app, &back, Some(&c3)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Logout: refused cross-site, then ends the session and goes to the provider.
    let post = |c: &str, site: &str| {
        Request::post("/auth/logout")
            .header(header::COOKIE, c)
            .header("sec-fetch-site", site)
            .body(Body::empty())
            .unwrap()
    };
    let r = app.clone().oneshot(post(&c2, "cross-site")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        text(get_(&app, "/whoami", Some(&c2)).await).await,
        format!("users/{anna}")
    );
    let r = app.clone().oneshot(post(&c2, "same-origin")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with(&w.idp.end_session_url()), "{to}");
    assert!(query(&to, "id_token_hint").is_some());
    assert_eq!(
        query(&to, "post_logout_redirect_uri").as_deref(),
        Some("http://console.test/")
    );
    let done = w.http.get(&to).send().await.unwrap();
    assert_eq!(done.headers()[header::LOCATION], "http://console.test/");
    assert_eq!(w.idp.logouts().len(), 1);
    assert_eq!(text(get_(&app, "/whoami", Some(&c2)).await).await, "nobody");
    w.env.cleanup().await;
}

#[tokio::test]
async fn wrong_state_nonce_or_verifier_is_refused() {
    let w = World::start().await;
    w.invite("anna.berg@ostra.se").await;
    let app = w.app(w.settings()).await;
    w.idp
        .sign_in_as(FakeUser::new("idp-anna-1", "anna.berg@ostra.se", true));

    // Wrong state: refused, and the login cannot be finished afterwards either.
    let (c, authorize) = login(&app).await;
    let back = w.at_provider(&authorize).await;
    let forged = back.replace(
        &format!("state={}", query(&authorize, "state").unwrap()),
        "state=forged",
    );
    assert_ne!(forged, back);
    let r = get_(&app, &forged, Some(&c)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("state"));
    let r = get_(&app, &back, Some(&c)).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a state is good for one try"
    );
    // A callback in a browser that never started a login.
    let r = get_(&app, &back, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // An ID token with another nonce (a replayed token) is not accepted.
    let (c, authorize) = login(&app).await;
    w.idp.send_wrong_nonce("replayed");
    let back = w.at_provider(&authorize).await;
    let r = get_(&app, &back, Some(&c)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.to_lowercase().contains("nonce"));

    // The provider checks PKCE S256: the code with a wrong verifier is refused.
    let (_c, authorize) = login(&app).await;
    let back = w.at_provider(&authorize).await;
    let code = query(&format!("http://console.test{back}"), "code").unwrap();
    let r = w
        .http
        .post(format!("{}/token", w.idp.issuer()))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"x".repeat(43)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(w.idp.refusals(), vec!["invalid_grant".to_string()]);
    // Nothing got linked by the refused attempts beyond none at all.
    assert_eq!(
        w.env
            .platform
            .catalog
            .linked_user(w.idp.issuer(), "idp-anna-1", None)
            .await
            .unwrap(),
        None
    );
    w.env.cleanup().await;
}

#[tokio::test]
async fn expired_logins_and_sessions_are_refused() {
    let w = World::start().await;
    w.invite("anna.berg@ostra.se").await;
    w.idp
        .sign_in_as(FakeUser::new("idp-anna-1", "anna.berg@ostra.se", true));
    let mut s = w.settings();
    s.login_timeout = Duration::from_secs(1);
    let app = w.app(s).await;
    let (c, authorize) = login(&app).await;
    let back = w.at_provider(&authorize).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get_(&app, &back, Some(&c)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("too long"));

    // A signed-in session ends with the ID token the services accept.
    let app = w.app(w.settings()).await;
    w.idp.set_id_token_ttl(Duration::from_secs(3));
    let (c, authorize) = login(&app).await;
    let back = w.at_provider(&authorize).await;
    let r = get_(&app, &back, Some(&c)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let c = cookie(&r).unwrap();
    assert_ne!(text(get_(&app, "/whoami", Some(&c)).await).await, "nobody");
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(text(get_(&app, "/whoami", Some(&c)).await).await, "nobody");
    w.env.cleanup().await;
}

#[tokio::test]
async fn unknown_or_unverified_email_gets_whom_to_ask() {
    let w = World::start().await;
    w.invite("anna.berg@ostra.se").await;
    let app = w.app(w.settings()).await;

    for user in [
        FakeUser::new("idp-stranger", "stranger@example.se", true),
        // The invited address, but the provider has not verified it.
        FakeUser::new("idp-anna-unverified", "anna.berg@ostra.se", false),
    ] {
        w.idp.sign_in_as(user.clone());
        let (c, authorize) = login(&app).await;
        let back = w.at_provider(&authorize).await;
        let r = get_(&app, &back, Some(&c)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", user.sub);
        assert!(text(r).await.contains("invite"));
        assert_eq!(
            w.env
                .platform
                .catalog
                .linked_user(w.idp.issuer(), &user.sub, None)
                .await
                .unwrap(),
            None
        );
    }
    let inv = w
        .env
        .platform
        .catalog
        .invitation("anna.berg@ostra.se")
        .await
        .unwrap()
        .unwrap();
    assert!(
        inv.accepted_at.is_none(),
        "an unverified e-mail must not use the invitation"
    );

    // The services refuse the unlinked provider token outright, in Swedish too.
    let token = w.idp.id_token(
        &FakeUser::new("idp-stranger", "stranger@example.se", true),
        None,
    );
    let mut req = authed(&token, tpb::GetCallerRequest {});
    req.metadata_mut()
        .insert("accept-language", "sv".parse().unwrap());
    let err = w.env.users().await.get_caller(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("bjuda in"), "{}", err.message());
    w.env.cleanup().await;
}

#[tokio::test]
async fn invite_user_rpc() {
    let env = TestEnv::start().await;
    env.onboard("ostra").await;
    env.member("kim", "ostra", tpb::TenantRole::Member).await;
    env.member("stina", "ostra", tpb::TenantRole::TenantAdmin)
        .await;
    let op = env.token("operator", &["operator"]);
    let invite = |email: &str, roles: Vec<i32>| tpb::InviteUserRequest {
        user_id: String::new(),
        user: Some(tpb::User {
            email: email.into(),
            display_name: "Anna Berg".into(),
            platform_roles: roles,
            ..Default::default()
        }),
    };
    let mut users = env.users().await;
    let r = users
        .invite_user(authed(
            &op,
            invite(
                "Anna.Berg@ostra.se",
                vec![tpb::PlatformRole::Evaluator as i32],
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    let u = r.user.unwrap();
    assert_eq!(u.name, "users/anna.berg");
    assert_eq!(u.platform_roles, vec![tpb::PlatformRole::Evaluator as i32]);
    assert!(r.expire_time.unwrap().seconds > chrono_now() + 29 * 86_400);

    // The same address again, in another case: already invited.
    let e = users
        .invite_user(authed(&op, invite("anna.berg@OSTRA.se", vec![])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    // Another person with the same local part gets the next free id.
    let r = users
        .invite_user(authed(&op, invite("anna.berg@vastra.se", vec![])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user.unwrap().name, "users/anna.berg-2");

    // A tenant admin may invite colleagues, but hand out no platform roles.
    let stina = env.token("stina", &[]);
    users
        .invite_user(authed(&stina, invite("kollega@ostra.se", vec![])))
        .await
        .unwrap();
    let e = users
        .invite_user(authed(
            &stina,
            invite("op@ostra.se", vec![tpb::PlatformRole::Operator as i32]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let e = users
        .invite_user(authed(&env.token("kim", &[]), invite("x@ostra.se", vec![])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);

    // Bad input: a clear message in the caller's language and nothing written.
    let mut req = authed(&op, invite("not-an-address", vec![]));
    req.metadata_mut()
        .insert("accept-language", "sv".parse().unwrap());
    let e = users.invite_user(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("ogiltig"), "{}", e.message());
    let would_be = UserId::parse("not-an-address").unwrap();
    assert!(
        env.platform
            .catalog
            .user(&would_be)
            .await
            .unwrap()
            .is_none()
    );
    let e = users
        .invite_user(authed(
            &op,
            tpb::InviteUserRequest {
                user_id: "Bad Id".into(),
                ..invite("bad@ostra.se", vec![])
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        env.platform
            .catalog
            .invitation("bad@ostra.se")
            .await
            .unwrap()
            .is_none()
    );

    // An HS256 (development) token still names the user by `sub`.
    let me = users
        .get_caller(authed(
            &env.token("anna.berg", &[]),
            tpb::GetCallerRequest {},
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.user, "users/anna.berg");
    env.cleanup().await;
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn console_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{}=", kompass_console::session::COOKIE)))
        .map(|c| c.split(';').next().unwrap().to_string())
}

async fn get_lang(app: &Router, path: &str, cookie: Option<&str>, lang: &str) -> Response {
    let mut b = Request::get(path).header(header::ACCEPT_LANGUAGE, lang);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    app.clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// The real console against the fake provider: its sign-in page, the code
/// flow into the signed-in home, the page for an identity nobody invited in
/// every language, a refused callback, and logout at the provider.
#[tokio::test]
async fn the_console_signs_in_at_the_provider() {
    let w = World::start().await;
    w.invite("anna.berg@ostra.se").await;
    let env = &w.env;
    let settings = kompass_console::Settings {
        tenancy_url: env.url(ServiceKind::Tenancy),
        assessment_url: env.url(ServiceKind::Assessment),
        projects_url: env.url(ServiceKind::Projects),
        reporting_url: env.url(ServiceKind::Reporting),
        // Offered users are ignored: OpenID Connect is configured.
        dev: Some(kompass_console::DevSignIn {
            secret: "x".repeat(32),
            issuer: "kompass".into(),
            audience: "kompass".into(),
            users: vec![kompass_console::DevUser {
                id: "operator".into(),
                display_name: "Olivia".into(),
                roles: vec!["operator".into()],
                admin_of: None,
            }],
        }),
        oidc: Some(w.settings()),
        secure_cookies: false,
        session_ttl: Duration::from_secs(3600),
    };
    let app = kompass_console::app(
        kompass_console::Console::new(settings).unwrap(),
        Store::Memory(Default::default()),
    );

    // The sign-in page offers the provider only; the development sign-in is refused.
    let page = text(get_lang(&app, "/sign-in?next=/home", None, "en").await).await;
    assert!(page.contains("/auth/login?next=%2Fhome"), "{page}");
    assert!(!page.contains("/dev/sign-in"), "{page}");
    let r = app
        .clone()
        .oneshot(
            Request::post("/dev/sign-in")
                .header("sec-fetch-site", "same-origin")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("user=operator"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The code flow, from the console's link to the signed-in home.
    w.idp
        .sign_in_as(FakeUser::new("idp-anna", "anna.berg@ostra.se", true));
    let r = get_lang(&app, "/auth/login?next=/home", None, "sv").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let c1 = console_cookie(&r).expect("session cookie");
    let back = w.at_provider(&location(&r)).await;
    let r = get_lang(&app, &back, Some(&c1), "sv").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    assert_eq!(location(&r), "/home");
    let c2 = console_cookie(&r).expect("a new session id at sign-in");
    assert_ne!(c1, c2);
    let home = get_lang(&app, "/home", Some(&c2), "sv").await;
    assert_eq!(home.status(), StatusCode::OK);
    let home = text(home).await;
    assert!(home.contains("Anna Berg"), "{home}");
    assert!(home.contains(r#"action="/auth/logout""#), "{home}");

    // A callback whose state does not match is refused with a page.
    let (c, _) = {
        let r = get_lang(&app, "/auth/login", None, "sv").await;
        (console_cookie(&r).unwrap(), ())
    };
    let r = get_lang(&app, "/auth/callback?code=x&state=bogus", Some(&c), "sv").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("Inloggningen blev inte klar"));

    // Nobody invited this identity: a page saying whom to ask, in each language.
    for (lang, says) in [
        ("sv", "Inget Kompass-konto"),
        ("en", "No Kompass account"),
        ("nb", "Ingen Kompass-konto"),
    ] {
        w.idp
            .sign_in_as(FakeUser::new("idp-stranger", "stranger@example.se", true));
        let r = get_lang(&app, "/auth/login", None, lang).await;
        let c = console_cookie(&r).unwrap();
        let back = w.at_provider(&location(&r)).await;
        let r = get_lang(&app, &back, Some(&c), lang).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{lang}");
        let page = text(r).await;
        assert!(page.contains(says), "{lang}: {page}");
        assert!(page.contains("stranger@example.se"), "{lang}: {page}");
        assert!(page.contains(&format!(r#"<html lang="{lang}">"#)), "{lang}");
    }

    // Logout: refused from another site, then ends the session at the provider.
    let post = |site: &str| {
        Request::post("/auth/logout")
            .header(header::COOKIE, &c2)
            .header("sec-fetch-site", site)
            .body(Body::empty())
            .unwrap()
    };
    let r = app.clone().oneshot(post("cross-site")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.clone().oneshot(post("same-origin")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with(&w.idp.end_session_url()));
    let r = get_lang(&app, "/home", Some(&c2), "sv").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed out");
    assert!(location(&r).starts_with("/sign-in"));
    w.env.cleanup().await;
}

/// A fresh deployment behind a provider: the bootstrap operator is given by
/// e-mail, invited at start, and linked at their first sign-in; they can then
/// invite others. A second start invites nobody.
#[tokio::test]
async fn the_first_operator_is_invited_by_email_and_linked_at_sign_in() {
    let idp = FakeProvider::start(CLIENT, SECRET).await;
    let env = TestEnv::start_with(Options {
        provider: Some(Provider {
            issuer: idp.issuer().into(),
            jwks_url: idp.jwks_url(),
            audience: CLIENT.into(),
        }),
        bootstrap_operator: Some("Ops@Kommunerna.se".into()),
        ..Default::default()
    })
    .await;
    let inv = env
        .platform
        .catalog
        .invitation("ops@kommunerna.se")
        .await
        .unwrap()
        .expect("invited at start");
    assert!(inv.accepted_at.is_none());
    assert!(
        !env.platform
            .catalog
            .bootstrap_operator_by_email("someone@else.se")
            .await
            .unwrap(),
        "the invited operator counts: nobody else is invited"
    );

    let token = idp.id_token(&FakeUser::new("idp-ops", "ops@kommunerna.se", true), None);
    let me = env
        .users()
        .await
        .get_caller(authed(&token, tpb::GetCallerRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.user, format!("users/{}", inv.user_id));
    assert!(
        me.platform_roles
            .contains(&(tpb::PlatformRole::Operator as i32))
    );
    let invited = env
        .users()
        .await
        .invite_user(authed(
            &token,
            tpb::InviteUserRequest {
                user_id: String::new(),
                user: Some(tpb::User {
                    email: "eva@skr.se".into(),
                    display_name: "Eva".into(),
                    platform_roles: vec![tpb::PlatformRole::Evaluator as i32],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(invited.user.is_some());
    env.cleanup().await;
}
