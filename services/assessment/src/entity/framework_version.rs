//! `framework_versions` (platform database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "framework_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub framework_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: String,
    /// The framework as imported, in YAML.
    pub content: String,
    pub content_hash: String,
    pub in_use: bool,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
