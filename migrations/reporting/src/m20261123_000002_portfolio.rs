//! The portfolio: one row per project of any tenant, the latest summary the
//! `projects` stream carried (risks and opportunities as text lists).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReportingProjects {
    Table,
    Project,
    TenantId,
    Title,
    Kind,
    Phase,
    Outcome,
    TrafficLight,
    /// `probability:consequence=count;…`
    Risks,
    /// Opportunity names, one per line.
    Opportunities,
    Seq,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ReportingProjects as P;
        m.create_table(
            Table::create()
                .table(P::Table)
                .if_not_exists()
                .col(ColumnDef::new(P::Project).string().not_null().primary_key())
                .col(ColumnDef::new(P::TenantId).string().not_null())
                .col(ColumnDef::new(P::Title).string().not_null())
                .col(ColumnDef::new(P::Kind).integer().not_null())
                .col(ColumnDef::new(P::Phase).integer().not_null())
                .col(ColumnDef::new(P::Outcome).integer().not_null())
                .col(ColumnDef::new(P::TrafficLight).integer().not_null())
                .col(ColumnDef::new(P::Risks).text().not_null())
                .col(ColumnDef::new(P::Opportunities).text().not_null())
                .col(ColumnDef::new(P::Seq).big_integer().not_null())
                .col(
                    ColumnDef::new(P::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("reporting_projects_tenant")
                .table(P::Table)
                .col(P::TenantId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReportingProjects::Table).to_owned())
            .await
    }
}
