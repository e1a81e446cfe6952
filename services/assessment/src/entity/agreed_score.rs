//! `agreed_scores` (tenant database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agreed_scores")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub evaluation_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub question_id: String,
    /// Points in hundredths; `None` = not agreed.
    pub points_centi: Option<i64>,
    pub comment: String,
    pub agreed_by: String,
    pub version: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
