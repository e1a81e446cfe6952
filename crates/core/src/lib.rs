//! Shared building blocks every Kompass crate uses.

pub mod error;
pub mod i18n;
pub mod ids;
pub mod names;
pub mod paging;

pub use error::{Error, Msg, Result};
pub use ids::{TenantId, UserId};
