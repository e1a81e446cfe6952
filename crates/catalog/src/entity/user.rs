use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Comma-separated platform roles.
    pub platform_roles: String,
    pub language: String,
    pub created_at: DateTimeUtc,
    /// Set when the user was deactivated (`DeleteUser`); the row stays so
    /// audit trails keep their names.
    pub delete_time: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
