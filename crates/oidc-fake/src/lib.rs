//! A small OpenID provider for tests, on `127.0.0.1:0`: discovery, JWKS with
//! its own RS256 key, authorize (approves whoever [`FakeProvider::sign_in_as`]
//! named), token (checks the client, the redirect URI and PKCE S256; each code
//! works once) and end-session (records the call). Nothing leaves the machine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Test-only key: it signs tokens of this fake and nothing else.
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAsgwXct3EOzRqumJJhQTuajBgc4aI5p8sqbnXU8dJNo3Li8jg
uB8B6hdn5WxsasEvHs5EaDcpKFWT7XAnTZ9/BL3IPl8Ur3DbvrCL15XRoxkPlxCb
+XUUm5Geu1XaTm6WbH3mrEAzFSb10dPbLodri4SZskfMZfFpkCBgwtDOmTy9hyMP
dSQv0Hif11A3rg7nMuGowthWBFBnN/23SpQQsF6KMsTvae6Dl9+agg7eaSP/Qd6R
zWUg3huMiBJ7CBWie1jbBR4wp0yfka/Fc/zg+R44DLim7t2gnsQtScjFIO3o+kHd
+CfjmNlAEyIWY7xt4UlnfF0i+A3RA2YTzcy0iwIDAQABAoIBAEWI+WNv/uJMb15J
YoMj0OUB7blQkojXI39JyDG9A/fdWuBF3JWr7nh5Gad9N75dokR6tDarTFSnT3WM
tpzXLKkyYVESmyaFghywIH1a0pvK/s61uuSq+Bhlv8NUHUVCZVcLuJoPHKQnKhv/
jHtYggTkDY6WAdrSdLLIImITYIxxhwWXYnAcU+d4mkKhiaCOzkWrBK8+M2UlM9jw
n7bH1Xtbqs38dT8WhvZuru9DlDJa8x8mBBE2VAS0sL5f47zKqtRznL8FMuOpfoGS
JQzBshdK7PzBQIPNMtU2sZIDYBxar3tWX5GnJjaafkGArmfdU7XeyprFgrmGb/BK
+WhMHekCgYEA9WymS88saMz1NLH3FQSbo2DeraTXwFc0TGZgvtW8jBy/fePEV0kR
glrxNRdaDwn1IikJ16ZH8tnNuDu5V4LQIlIODhsEqVHvRV/YkHcrMDFUY4EraS80
Yg1Qjdk+j/CCw0KPlOgO/oYtRPYRhTbDObaMgIMKiLy58Ft4ny1LmAUCgYEAubgv
IPi59IZNx98lgLMHHZFyNYk24P9ZkRxIdR3hIIuRdrucZHFcfT4dcRHS5C0xG/0B
EEweBIIkOgcHQGtfVFdv0NGir7PmN6W07x/6gALR2+jlxprYxwAtkj/9rdhsY6Ox
p/28icHwYCxeSw54XOSW1H6jNpeItpcnuE62j08CgYEAqjS2w/6jMu9p4yjFTetL
MSx+YnjfNEKGP7IEyHSc9aL+XwV2Zn6DSR9fB03xpFpoik9hxxBH97F7zZiF+p37
UMINg1TTj8YGJdvJ6q7q4dpkRzoO7DzTnGjVg/q1O8g2N8rSnxetRnGxtZDeJ8AJ
9t2WZY374UbZwUr+xY35Ti0CgYEApd8X0KX1R6zwKTRnBWRgVYtC6wfLSPcnYtBU
8q0mFfAxkk8L5jXNOlrQ5tzZc0vdkbbNTWX+ZV5qxpziYCnF8clKJ8IkQDM3ybmp
OO1hyRU7o+KF3nUMaegBy551juA+JlvcX0LjMlJRw0O9T+HzpFvRTqZwVWDQDOxB
4H4E1UcCgYB/Nd7v6lkqw4crMCn3aVIyq4LBjSplXINzMiprmw5+fbbuAF78Pp+J
Los+qGkTyXIPT+oK5OuH4LT+LWetVQsc0+d1E4Yf5LTYuPGdBLmShrnc2ZzuIeBO
GKpEXgRu4RSH/K3ILE62mdrvejliyg09sdbheyDo8dE1TncW91ZO9Q==
-----END RSA PRIVATE KEY-----";
const MODULUS: &str = "sgwXct3EOzRqumJJhQTuajBgc4aI5p8sqbnXU8dJNo3Li8jguB8B6hdn5WxsasEvHs5EaDcpKFWT7XAnTZ9_BL3IPl8Ur3DbvrCL15XRoxkPlxCb-XUUm5Geu1XaTm6WbH3mrEAzFSb10dPbLodri4SZskfMZfFpkCBgwtDOmTy9hyMPdSQv0Hif11A3rg7nMuGowthWBFBnN_23SpQQsF6KMsTvae6Dl9-agg7eaSP_Qd6RzWUg3huMiBJ7CBWie1jbBR4wp0yfka_Fc_zg-R44DLim7t2gnsQtScjFIO3o-kHd-CfjmNlAEyIWY7xt4UlnfF0i-A3RA2YTzcy0iw";
const KID: &str = "fake-rs256-1";

/// The person the provider signs in at the next authorization request.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

impl FakeUser {
    pub fn new(sub: &str, email: &str, email_verified: bool) -> FakeUser {
        FakeUser {
            sub: sub.into(),
            email: email.into(),
            email_verified,
            name: sub.into(),
        }
    }
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    challenge: String,
    user: FakeUser,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    id_token_ttl: Mutex<Duration>,
    next_user: Mutex<Option<FakeUser>>,
    /// Replaces the nonce of the next ID token (a replayed or forged token).
    wrong_nonce: Mutex<Option<String>>,
    codes: Mutex<HashMap<String, Grant>>,
    logouts: Mutex<Vec<HashMap<String, String>>>,
    /// Token requests refused, with the OAuth error given.
    refusals: Mutex<Vec<String>>,
}

/// A running fake provider; stops when dropped.
pub struct FakeProvider {
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn random(n: usize) -> String {
    let mut r = rand::rng();
    (0..n)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[r.random_range(0..36)]))
        .collect()
}

impl FakeProvider {
    pub async fn start(client_id: &str, client_secret: &str) -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}"),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            id_token_ttl: Mutex::new(Duration::from_secs(600)),
            next_user: Mutex::new(None),
            wrong_nonce: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            logouts: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/logout", get(end_session))
            // For tests in another process (the browser tests): who signs in next.
            .route("/test/next-user", post(set_next_user))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeProvider { inner, task }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.inner.issuer)
    }

    pub fn end_session_url(&self) -> String {
        format!("{}/logout", self.inner.issuer)
    }

    /// Whom the next authorization request signs in.
    pub fn sign_in_as(&self, user: FakeUser) {
        *self.inner.next_user.lock().unwrap() = Some(user);
    }

    /// The next ID token carries `nonce` instead of the one the client sent.
    pub fn send_wrong_nonce(&self, nonce: &str) {
        *self.inner.wrong_nonce.lock().unwrap() = Some(nonce.into());
    }

    pub fn set_id_token_ttl(&self, ttl: Duration) {
        *self.inner.id_token_ttl.lock().unwrap() = ttl;
    }

    /// An ID token for `user` signed with the provider's key, as the token
    /// endpoint issues it.
    pub fn id_token(&self, user: &FakeUser, nonce: Option<&str>) -> String {
        self.inner.id_token(user, nonce)
    }

    /// Query parameters of every end-session request so far.
    pub fn logouts(&self) -> Vec<HashMap<String, String>> {
        self.inner.logouts.lock().unwrap().clone()
    }

    /// OAuth errors the token endpoint answered with so far.
    pub fn refusals(&self) -> Vec<String> {
        self.inner.refusals.lock().unwrap().clone()
    }
}

impl Inner {
    fn id_token(&self, user: &FakeUser, nonce: Option<&str>) -> String {
        let now = now();
        let ttl = self.id_token_ttl.lock().unwrap().as_secs();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + ttl,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(KID.into());
        // PKCS#1 DER is the PEM body, base64-decoded.
        let body: String = PRIVATE_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let key = EncodingKey::from_rsa_der(&STANDARD.decode(body).expect("test key"));
        jsonwebtoken::encode(&h, &claims, &key).expect("signing")
    }

    fn refuse(&self, error: &str) -> Response {
        self.refusals.lock().unwrap().push(error.to_string());
        (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
    }
}

async fn discovery(State(s): State<Arc<Inner>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "email", "email_verified", "name"],
    }))
}

async fn jwks() -> Json<Value> {
    Json(json!({ "keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
        "n": MODULUS, "e": "AQAB",
    }]}))
}

#[derive(serde::Deserialize)]
struct NextUser {
    sub: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
}

async fn set_next_user(State(s): State<Arc<Inner>>, Json(u): Json<NextUser>) -> StatusCode {
    let mut user = FakeUser::new(&u.sub, &u.email, u.email_verified);
    if let Some(n) = u.name {
        user.name = n;
    }
    *s.next_user.lock().unwrap() = Some(user);
    StatusCode::NO_CONTENT
}

async fn authorize(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let redirect_uri = get("redirect_uri");
    if get("client_id") != s.client_id || redirect_uri.is_empty() {
        return (StatusCode::BAD_REQUEST, "unknown client or no redirect_uri").into_response();
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state = get("state");
    let fail = |e: &str| {
        Redirect::to(&format!("{redirect_uri}{sep}error={e}&state={state}")).into_response()
    };
    if get("response_type") != "code" || !get("scope").split(' ').any(|x| x == "openid") {
        return fail("invalid_request");
    }
    // This provider insists on PKCE S256 and a nonce, as the console must send them.
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return fail("invalid_request");
    }
    if get("nonce").is_empty() {
        return fail("invalid_request");
    }
    let Some(user) = s.next_user.lock().unwrap().clone() else {
        return fail("access_denied");
    };
    let code = random(24);
    s.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            client_id: get("client_id"),
            redirect_uri: redirect_uri.clone(),
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            user,
        },
    );
    let state = url_encode(&state);
    Redirect::to(&format!("{redirect_uri}{sep}code={code}&state={state}")).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn client_from_basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = STANDARD.decode(v.strip_prefix("Basic ")?).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (id, secret) =
        client_from_basic(&headers).unwrap_or_else(|| (get("client_id"), get("client_secret")));
    if id != s.client_id || secret != s.client_secret {
        return s.refuse("invalid_client");
    }
    if get("grant_type") != "authorization_code" {
        return s.refuse("unsupported_grant_type");
    }
    let Some(g) = s.codes.lock().unwrap().remove(&get("code")) else {
        return s.refuse("invalid_grant");
    };
    if g.client_id != id || g.redirect_uri != get("redirect_uri") {
        return s.refuse("invalid_grant");
    }
    let verifier = get("code_verifier");
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if verifier.len() < 43 || computed != g.challenge {
        return s.refuse("invalid_grant");
    }
    let nonce = s.wrong_nonce.lock().unwrap().take().unwrap_or(g.nonce);
    let id_token = s.id_token(&g.user, Some(&nonce));
    let ttl = s.id_token_ttl.lock().unwrap().as_secs();
    Json(json!({
        "access_token": random(32),
        "token_type": "Bearer",
        "expires_in": ttl,
        "id_token": id_token,
    }))
    .into_response()
}

async fn end_session(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.logouts.lock().unwrap().push(q.clone());
    match q.get("post_logout_redirect_uri") {
        Some(u) => Redirect::to(u).into_response(),
        None => "signed out".into_response(),
    }
}
