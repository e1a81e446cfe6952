//! `evaluations` (tenant database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evaluations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub title: String,
    pub kind: String,
    pub framework_version: String,
    pub state: String,
    pub version: i64,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub previous_evaluation: Option<String>,
    pub evaluation_date: Option<String>,
    pub imported: bool,
    /// JSON list of names.
    pub imported_evaluator_names: String,
    pub publish_time: Option<DateTimeUtc>,
    pub seal_digest: Option<String>,
    pub seal_time: Option<DateTimeUtc>,
    /// Canonical JSON of the published content, exactly as sealed.
    pub published_content: Option<String>,
    /// Imported evaluations: the importer's user id.
    pub imported_by: Option<String>,
    /// Imported evaluations: the importer's display name at the time.
    pub imported_by_name: Option<String>,
    /// Imported evaluations: `operator` or `tenant_admin`.
    pub import_role: Option<String>,
    pub import_time: Option<DateTimeUtc>,
    /// Imported evaluations: the source as stated (report title, URL).
    pub import_source: Option<String>,
    /// Canonical form the seal was made with; NULL = `kompass-canonical-json-v1`.
    pub seal_canonicalization: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
