use sea_orm::entity::prelude::*;

/// An open (or accepted) invitation: the first sign-in with this verified
/// e-mail links the provider identity to `user_id`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_invitations")]
pub struct Model {
    /// Lower-cased.
    #[sea_orm(primary_key, auto_increment = false)]
    pub email: String,
    pub user_id: String,
    pub invited_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
