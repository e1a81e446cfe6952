use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims Kompass reads. The token says who the caller is (`sub`);
/// what they may do (platform roles, memberships) comes from the catalog.
/// `roles` is minted for readability of dev tokens and ignored on verification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    /// Not before (seconds since the epoch); checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// OIDC: links a provider identity to an invited user when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl Claims {
    pub fn new(issuer: &str, audience: &str, sub: &str, roles: &[&str], ttl: Duration) -> Claims {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Claims {
            iss: issuer.into(),
            aud: audience.into(),
            sub: sub.into(),
            iat: now,
            nbf: None,
            exp: now + ttl.as_secs(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            email: None,
            email_verified: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("token is not valid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token names signing key {0:?}, which the identity provider does not publish")]
    UnknownKey(Option<String>),
    #[error("cannot fetch signing keys: {0}")]
    Jwks(String),
    #[error("no way to verify tokens is configured: set KOMPASS_JWT_SECRET or KOMPASS_JWKS_URL")]
    NotConfigured,
}

/// Mints an HS256 token, for `kompass token` and tests.
pub fn mint_hs256(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// HS256 secrets shorter than this are refused outside embedded mode
/// (RFC 7518 §3.2: the key must be at least as long as the hash output).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

enum Keys {
    Hs256(DecodingKey),
    Jwks(JwksCache),
}

type KeysByKid = HashMap<String, (DecodingKey, Algorithm)>;

#[derive(Default)]
struct JwksState {
    keys: KeysByKid,
    /// Last successful fetch.
    fetched: Option<Instant>,
    /// Last fetch started (successful or not), for the cooldown.
    attempted: Option<Instant>,
    /// A fetch is under way; others wait for it instead of fetching too.
    fetching: bool,
}

struct JwksCache {
    url: String,
    http: reqwest::Client,
    ttl: Duration,
    cooldown: Duration,
    /// Locked only to read or swap the map, never across the HTTP fetch, so
    /// verifying with a known key never waits for the identity provider.
    state: std::sync::Mutex<JwksState>,
    /// Woken when a fetch ends.
    done: tokio::sync::Notify,
    fetches: std::sync::atomic::AtomicU64,
}

/// Refetching on an unknown `kid` at most this often keeps a flood of forged
/// tokens from hammering the identity provider.
const JWKS_REFRESH_COOLDOWN: Duration = Duration::from_secs(30);

/// Default lifetime of fetched keys; after it they are refetched (rotation).
pub const JWKS_DEFAULT_TTL: Duration = Duration::from_secs(600);

enum Next {
    Use((DecodingKey, Algorithm)),
    Fetch(Option<(DecodingKey, Algorithm)>),
    Wait,
    Unknown,
}

/// Clears `fetching` and wakes the waiters even if the fetching request is
/// cancelled midway.
struct FetchGuard<'a>(&'a JwksCache);

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.state.lock() {
            st.fetching = false;
        }
        self.0.done.notify_waiters();
    }
}

impl JwksCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, JwksState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn key(&self, kid: &Option<String>) -> Result<(DecodingKey, Algorithm), JwtError> {
        let kid_s = kid.clone().unwrap_or_default();
        // Register for the wake-up before looking, so none is missed.
        let done = self.done.notified();
        let next = {
            let mut st = self.lock();
            let hit = st.keys.get(&kid_s).cloned();
            let fresh = st.fetched.is_some_and(|t| t.elapsed() < self.ttl);
            let may_fetch = st.attempted.is_none_or(|t| t.elapsed() >= self.cooldown);
            let next = match hit {
                Some(k) if fresh => Next::Use(k),
                // Stale: refresh once per cooldown, others go on with
                // the stale key meanwhile.
                Some(k) if st.fetching || !may_fetch => Next::Use(k),
                Some(k) => Next::Fetch(Some(k)),
                None if st.fetching => Next::Wait,
                None if may_fetch => Next::Fetch(None),
                None => Next::Unknown,
            };
            if matches!(next, Next::Fetch(_)) {
                st.fetching = true;
                st.attempted = Some(Instant::now());
            }
            next
        };
        match next {
            Next::Use(k) => Ok(k),
            Next::Unknown => Err(JwtError::UnknownKey(kid.clone())),
            Next::Wait => {
                done.await;
                // The fetch we waited for is the one chance for this kid.
                self.lock()
                    .keys
                    .get(&kid_s)
                    .cloned()
                    .ok_or_else(|| JwtError::UnknownKey(kid.clone()))
            }
            Next::Fetch(stale) => {
                let guard = FetchGuard(self);
                let fetched = self.fetch().await;
                let result = match fetched {
                    Ok(keys) => {
                        let mut st = self.lock();
                        st.keys = keys;
                        st.fetched = Some(Instant::now());
                        st.keys
                            .get(&kid_s)
                            .cloned()
                            .ok_or_else(|| JwtError::UnknownKey(kid.clone()))
                    }
                    Err(e) => match stale {
                        // The provider is down: keep verifying with the keys we
                        // have rather than locking everyone out.
                        Some(k) => {
                            tracing::warn!(error = %e, "JWKS refresh failed; using the cached keys");
                            Ok(k)
                        }
                        None => Err(e),
                    },
                };
                drop(guard);
                result
            }
        }
    }

    async fn fetch(&self) -> Result<KeysByKid, JwtError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| JwtError::Jwks(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?;
        let mut keys = KeysByKid::new();
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            // The algorithm comes from the key, never from the token header
            // (no algorithm confusion).
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("ES256") => Algorithm::ES256,
                Some("RS384") => Algorithm::RS384,
                Some("RS512") => Algorithm::RS512,
                Some("ES384") => Algorithm::ES384,
                _ => match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => Algorithm::RS256,
                },
            };
            keys.insert(jwk.common.key_id.clone().unwrap_or_default(), (key, alg));
        }
        Ok(keys)
    }
}

/// Verifies bearer tokens: signature, expiry, not-before, issuer and audience.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Keys>,
    issuer: String,
    audience: String,
    /// `kompass dev` with a provider configured: its own HS256 tokens (the
    /// demo's, the CLI's) keep working beside the provider's.
    dev: Option<DecodingKey>,
}

impl Verifier {
    pub fn hs256(secret: &str, issuer: &str, audience: &str) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Hs256(DecodingKey::from_secret(secret.as_bytes()))),
            issuer: issuer.into(),
            audience: audience.into(),
            dev: None,
        }
    }

    pub fn jwks(url: &str, issuer: &str, audience: &str) -> Verifier {
        Self::jwks_with_ttl(url, issuer, audience, JWKS_DEFAULT_TTL)
    }

    /// Keys are refetched once older than `ttl`, and on an unknown `kid` at
    /// most once per cooldown (30 s, or `ttl` if shorter).
    pub fn jwks_with_ttl(url: &str, issuer: &str, audience: &str, ttl: Duration) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Jwks(JwksCache {
                url: url.into(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("http client"),
                ttl,
                cooldown: JWKS_REFRESH_COOLDOWN.min(ttl),
                state: std::sync::Mutex::new(JwksState::default()),
                done: tokio::sync::Notify::new(),
                fetches: std::sync::atomic::AtomicU64::new(0),
            })),
            issuer: issuer.into(),
            audience: audience.into(),
            dev: None,
        }
    }

    /// Also accepts HS256 tokens signed with `secret` (same issuer and
    /// audience); their `sub` is a platform user id. For the embedded mode
    /// only, where the development secret never leaves the data directory.
    pub fn with_development_tokens(mut self, secret: &str) -> Verifier {
        self.dev = Some(DecodingKey::from_secret(secret.as_bytes()));
        self
    }

    /// How many times the JWKS was fetched (0 for HS256); for tests and metrics.
    pub fn jwks_fetches(&self) -> u64 {
        match &*self.keys {
            Keys::Hs256(_) => 0,
            Keys::Jwks(c) => c.fetches.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Whether tokens come from an identity provider (JWKS) rather than the
    /// shared development secret; provider subjects are not platform user ids.
    pub fn is_provider(&self) -> bool {
        matches!(&*self.keys, Keys::Jwks(_))
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        Ok(self.verify_token(token).await?.0)
    }

    /// The claims, and whether the token is the provider's (its `sub` is the
    /// provider's subject, to be mapped by a linked identity).
    pub async fn verify_token(&self, token: &str) -> Result<(Claims, bool), JwtError> {
        let header = jsonwebtoken::decode_header(token)?;
        let (key, alg, provider) = match (&*self.keys, &self.dev) {
            (Keys::Jwks(_), Some(dev)) if header.alg == Algorithm::HS256 => {
                (dev.clone(), Algorithm::HS256, false)
            }
            (Keys::Hs256(k), _) => (k.clone(), Algorithm::HS256, false),
            (Keys::Jwks(cache), _) => {
                let (k, a) = cache.key(&header.kid).await?;
                (k, a, true)
            }
        };
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = 30;
        Ok((
            jsonwebtoken::decode::<Claims>(token, &key, &v)?.claims,
            provider,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn development_tokens_beside_a_provider_only_when_asked() {
        let c = Claims::new("idp", "console", "anna", &[], Duration::from_secs(60));
        let token = mint_hs256("dev-secret", &c);
        // Nothing listens there: a provider token would fail to find its key.
        let jwks = || Verifier::jwks("http://127.0.0.1:9/jwks", "idp", "console");
        assert!(jwks().verify_token(&token).await.is_err());
        let v = jwks().with_development_tokens("dev-secret");
        let (claims, provider) = v.verify_token(&token).await.unwrap();
        assert_eq!(claims.sub, "anna");
        assert!(!provider, "a development token's sub is a user id");
        assert!(v.verify_token(&mint_hs256("other", &c)).await.is_err());
    }

    #[tokio::test]
    async fn hs256_round_trip_and_rejections() {
        let v = Verifier::hs256("s3cret", "kompass", "kompass");
        let c = Claims::new(
            "kompass",
            "kompass",
            "anna",
            &["operator"],
            Duration::from_secs(60),
        );
        assert_eq!(v.verify(&mint_hs256("s3cret", &c)).await.unwrap(), c);
        assert!(v.verify(&mint_hs256("other", &c)).await.is_err());
        let mut wrong_aud = c.clone();
        wrong_aud.aud = "someone-else".into();
        assert!(v.verify(&mint_hs256("s3cret", &wrong_aud)).await.is_err());
        let mut expired = c.clone();
        expired.exp = 1_000;
        assert!(v.verify(&mint_hs256("s3cret", &expired)).await.is_err());
        assert!(v.verify("garbage").await.is_err());
        // Not yet valid (beyond the 30 s leeway), then valid.
        let mut early = c.clone();
        early.nbf = Some(early.iat + 3600);
        assert!(v.verify(&mint_hs256("s3cret", &early)).await.is_err());
        early.nbf = Some(early.iat);
        assert!(v.verify(&mint_hs256("s3cret", &early)).await.is_ok());
    }
}
