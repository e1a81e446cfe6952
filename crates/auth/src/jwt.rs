use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// The claims Kompass reads. `roles` holds platform roles; tenant memberships
/// live in the catalog, not in the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
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

enum Keys {
    Hs256(DecodingKey),
    Jwks(JwksCache),
}

type KeysByKid = HashMap<String, (DecodingKey, Algorithm)>;

struct JwksCache {
    url: String,
    http: reqwest::Client,
    /// Keys by `kid`, and when they were last fetched.
    state: RwLock<(KeysByKid, Option<Instant>)>,
}

/// Refetching on an unknown `kid` at most this often keeps a flood of forged
/// tokens from hammering the identity provider.
const JWKS_REFRESH_COOLDOWN: Duration = Duration::from_secs(30);

impl JwksCache {
    async fn key(&self, kid: &Option<String>) -> Result<(DecodingKey, Algorithm), JwtError> {
        let kid_s = kid.clone().unwrap_or_default();
        if let Some(k) = self.state.read().await.0.get(&kid_s) {
            return Ok(k.clone());
        }
        let mut st = self.state.write().await;
        if let Some(k) = st.0.get(&kid_s) {
            return Ok(k.clone());
        }
        if st.1.is_some_and(|t| t.elapsed() < JWKS_REFRESH_COOLDOWN) {
            return Err(JwtError::UnknownKey(kid.clone()));
        }
        st.1 = Some(Instant::now());
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
        st.0.clear();
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
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
            st.0.insert(jwk.common.key_id.clone().unwrap_or_default(), (key, alg));
        }
        st.0.get(&kid_s)
            .cloned()
            .ok_or_else(|| JwtError::UnknownKey(kid.clone()))
    }
}

/// Verifies bearer tokens: signature, expiry, issuer and audience.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Keys>,
    issuer: String,
    audience: String,
}

impl Verifier {
    pub fn hs256(secret: &str, issuer: &str, audience: &str) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Hs256(DecodingKey::from_secret(secret.as_bytes()))),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    pub fn jwks(url: &str, issuer: &str, audience: &str) -> Verifier {
        Verifier {
            keys: Arc::new(Keys::Jwks(JwksCache {
                url: url.into(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("http client"),
                state: RwLock::new((HashMap::new(), None)),
            })),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Whether tokens come from an identity provider (JWKS) rather than the
    /// shared development secret; provider subjects are not platform user ids.
    pub fn is_provider(&self) -> bool {
        matches!(&*self.keys, Keys::Jwks(_))
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token)?;
        let (key, alg) = match &*self.keys {
            Keys::Hs256(k) => (k.clone(), Algorithm::HS256),
            Keys::Jwks(cache) => cache.key(&header.kid).await?,
        };
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        v.leeway = 30;
        Ok(jsonwebtoken::decode::<Claims>(token, &key, &v)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
