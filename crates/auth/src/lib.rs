//! Who is calling: token verification and the [`Caller`] handlers authorise with.

mod caller;
mod jwt;

pub use caller::{Caller, PlatformRole, TenantRole};
pub use jwt::{Claims, JwtError, Verifier, mint_hs256};
