pub mod identity;
pub mod invitation;
pub mod membership;
pub mod tenant;
pub mod user;
