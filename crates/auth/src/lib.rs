//! Who is calling: token verification and the [`Caller`] handlers authorise with.

mod caller;
mod jwt;

pub use caller::{Caller, PlatformRole, TenantRole};
pub use jwt::{Claims, JwtError, MIN_HS256_SECRET_BYTES, Verifier, mint_hs256};

use std::collections::{BTreeMap, BTreeSet};

use kompass_core::{Error, TenantId, UserId};

/// What the catalog grants one user. The token only says who the caller is;
/// this says what they may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub platform_roles: BTreeSet<PlatformRole>,
    pub memberships: BTreeMap<TenantId, TenantRole>,
    /// False once the user was deactivated (`DeleteUser`).
    pub active: bool,
}

/// Where grants come from (the catalog), read on every request so a change
/// takes effect on the caller's next call.
#[async_trait::async_trait]
pub trait GrantSource: Send + Sync + 'static {
    /// `None`: the catalog does not know the user (it is granted nothing).
    async fn grants(&self, user: &UserId) -> Result<Option<Grants>, Error>;
}

/// Which platform user a provider identity (`iss` + `sub`) is (the catalog).
#[async_trait::async_trait]
pub trait IdentityLinks: Send + Sync + 'static {
    /// `verified_email` is the token's `email` when `email_verified` is true;
    /// an open invitation for it links the identity on first use.
    async fn linked_user(
        &self,
        issuer: &str,
        subject: &str,
        verified_email: Option<&str>,
    ) -> Result<Option<UserId>, Error>;
}
