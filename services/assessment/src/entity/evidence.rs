//! `evidence` (tenant database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evidence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub evaluation_id: String,
    /// interview, document or website
    pub kind: String,
    pub date: String,
    /// JSON list of question ids.
    pub questions: String,
    pub notes: String,
    /// JSON of the kind's details (group and roles, title and reference, url…).
    pub details: String,
    pub file_content: Option<Vec<u8>>,
    pub carried_over_from: Option<String>,
    pub creator: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
