//! The reporting service's analytics tables (the national read model). They
//! live in the platform database next to the catalog by default, with their
//! own migration table; schema-builder migrations, so they also run on SQLite
//! (`kompass dev`). Points are whole hundredths (`*_centi`), never floats.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

mod m20261123_000002_portfolio;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Migration),
            Box::new(m20261123_000002_portfolio::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_reporting".into_iden()
    }
}

#[derive(DeriveMigrationName)]
struct Migration;

#[derive(DeriveIden)]
enum ReportingTenants {
    Table,
    TenantId,
    DisplayName,
    Country,
    MunicipalityCode,
    Population,
    Named,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReportingEvaluations {
    Table,
    Evaluation,
    TenantId,
    Kind,
    FrameworkVersion,
    EvaluationDate,
    Year,
    PublishTime,
    TotalCenti,
    MaxCenti,
    Scores,
    Content,
    SealDigest,
    EventId,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum ReportingQuestionPoints {
    Table,
    Evaluation,
    QuestionId,
    AreaId,
    Position,
    PointsCenti,
    MaxCenti,
}

#[derive(DeriveIden)]
enum ReportingTexts {
    Table,
    Id,
    Evaluation,
    TenantId,
    FrameworkVersion,
    AreaId,
    Source,
    Position,
    Body,
}

#[derive(DeriveIden)]
enum ReportingEvents {
    Table,
    EventId,
    Evaluation,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum ReportingKeyFigures {
    Table,
    Kpi,
    Municipality,
    Period,
    Gender,
    Value,
    ImportedAt,
}

fn s(c: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(c).string_len(len).not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReportingTenants::Table)
                .if_not_exists()
                .col(s(ReportingTenants::TenantId, 41).primary_key())
                .col(
                    ColumnDef::new(ReportingTenants::DisplayName)
                        .string()
                        .not_null(),
                )
                .col(s(ReportingTenants::Country, 2))
                .col(s(ReportingTenants::MunicipalityCode, 8))
                .col(
                    ColumnDef::new(ReportingTenants::Population)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ReportingTenants::Named).boolean().not_null())
                .col(
                    ColumnDef::new(ReportingTenants::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReportingEvaluations::Table)
                .if_not_exists()
                .col(s(ReportingEvaluations::Evaluation, 200).primary_key())
                .col(s(ReportingEvaluations::TenantId, 41))
                .col(s(ReportingEvaluations::Kind, 20))
                .col(s(ReportingEvaluations::FrameworkVersion, 100))
                .col(s(ReportingEvaluations::EvaluationDate, 10))
                .col(
                    ColumnDef::new(ReportingEvaluations::Year)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReportingEvaluations::PublishTime)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReportingEvaluations::TotalCenti)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReportingEvaluations::MaxCenti)
                        .big_integer()
                        .not_null(),
                )
                // `area:question=points/max;…` in hundredths, framework order:
                // the comparison reads one row per evaluation.
                .col(
                    ColumnDef::new(ReportingEvaluations::Scores)
                        .text()
                        .not_null(),
                )
                // The prost-encoded EvaluationPublishedEvent (content + seal).
                .col(
                    ColumnDef::new(ReportingEvaluations::Content)
                        .binary()
                        .not_null(),
                )
                .col(s(ReportingEvaluations::SealDigest, 64))
                .col(s(ReportingEvaluations::EventId, 64))
                .col(
                    ColumnDef::new(ReportingEvaluations::ReceivedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("reporting_evaluations_by_version")
                .table(ReportingEvaluations::Table)
                .col(ReportingEvaluations::FrameworkVersion)
                .col(ReportingEvaluations::Kind)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("reporting_evaluations_by_tenant")
                .table(ReportingEvaluations::Table)
                .col(ReportingEvaluations::TenantId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReportingQuestionPoints::Table)
                .if_not_exists()
                .col(s(ReportingQuestionPoints::Evaluation, 200))
                .col(s(ReportingQuestionPoints::QuestionId, 20))
                .col(s(ReportingQuestionPoints::AreaId, 20))
                .col(
                    ColumnDef::new(ReportingQuestionPoints::Position)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReportingQuestionPoints::PointsCenti)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReportingQuestionPoints::MaxCenti)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(ReportingQuestionPoints::Evaluation)
                        .col(ReportingQuestionPoints::QuestionId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReportingTexts::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(ReportingTexts::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(s(ReportingTexts::Evaluation, 200))
                .col(s(ReportingTexts::TenantId, 41))
                .col(s(ReportingTexts::FrameworkVersion, 100))
                .col(s(ReportingTexts::AreaId, 20))
                .col(s(ReportingTexts::Source, 10))
                .col(
                    ColumnDef::new(ReportingTexts::Position)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ReportingTexts::Body).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("reporting_texts_by_evaluation")
                .table(ReportingTexts::Table)
                .col(ReportingTexts::Evaluation)
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            let db = m.get_connection();
            db.execute_unprepared(
                "CREATE INDEX IF NOT EXISTS reporting_texts_fts_sv ON reporting_texts \
                 USING GIN (to_tsvector('swedish', body))",
            )
            .await?;
            db.execute_unprepared(
                "CREATE INDEX IF NOT EXISTS reporting_texts_fts_en ON reporting_texts \
                 USING GIN (to_tsvector('english', body))",
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(ReportingEvents::Table)
                .if_not_exists()
                .col(s(ReportingEvents::EventId, 64).primary_key())
                .col(s(ReportingEvents::Evaluation, 200))
                .col(
                    ColumnDef::new(ReportingEvents::ProcessedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReportingKeyFigures::Table)
                .if_not_exists()
                .col(s(ReportingKeyFigures::Kpi, 20))
                .col(s(ReportingKeyFigures::Municipality, 8))
                .col(s(ReportingKeyFigures::Period, 10))
                .col(s(ReportingKeyFigures::Gender, 1))
                // Exact decimal text; NULL when Kolada has no value.
                .col(
                    ColumnDef::new(ReportingKeyFigures::Value)
                        .string_len(40)
                        .null(),
                )
                .col(
                    ColumnDef::new(ReportingKeyFigures::ImportedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(ReportingKeyFigures::Kpi)
                        .col(ReportingKeyFigures::Municipality)
                        .col(ReportingKeyFigures::Period)
                        .col(ReportingKeyFigures::Gender),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ReportingKeyFigures::Table.into_iden(),
            ReportingEvents::Table.into_iden(),
            ReportingTexts::Table.into_iden(),
            ReportingQuestionPoints::Table.into_iden(),
            ReportingEvaluations::Table.into_iden(),
            ReportingTenants::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
