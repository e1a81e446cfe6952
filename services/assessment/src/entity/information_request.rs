//! `information_requests` (tenant database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "information_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub evaluation_id: String,
    /// document or answer
    pub kind: String,
    pub description: String,
    /// JSON list of question ids.
    pub questions: String,
    pub due_date: String,
    /// open, answered or accepted
    pub state: String,
    /// JSON list of turns.
    pub turns: String,
    pub requested_by: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
