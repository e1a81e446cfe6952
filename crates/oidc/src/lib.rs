//! Browser sign-in for the console: the OpenID Connect flow ([`flow`]), the
//! server-side session stores ([`store`]) and CSRF defence ([`csrf`]).

pub mod csrf;
pub mod flow;
pub mod store;

pub use csrf::CsrfLayer;
pub use flow::{Identity, Oidc, OidcSettings, SignInError, SignInHandler};
pub use store::{DbStore, RedisStore, Store};
