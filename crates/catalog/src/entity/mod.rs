pub mod membership;
pub mod tenant;
pub mod user;
