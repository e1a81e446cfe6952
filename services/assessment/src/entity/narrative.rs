//! `narratives` (tenant database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "narratives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub evaluation_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub area_id: String,
    pub general_text: String,
    /// JSON list of {heading, text}.
    pub heading_texts: String,
    /// JSON list of strings.
    pub strengths: String,
    pub version: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
