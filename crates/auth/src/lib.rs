//! Who is calling: token verification and the [`Caller`] handlers authorise with.

mod caller;
mod jwt;

pub use caller::{Caller, PlatformRole, TenantRole};
pub use jwt::{Claims, JwtError, Verifier, mint_hs256};

use std::collections::BTreeMap;

use kompass_core::{Error, TenantId, UserId};

/// Where tenant memberships come from (the catalog).
#[async_trait::async_trait]
pub trait MembershipSource: Send + Sync + 'static {
    async fn memberships(&self, user: &UserId) -> Result<BTreeMap<TenantId, TenantRole>, Error>;
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
