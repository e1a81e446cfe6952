//! Every assessment table of a tenant database. Points are stored as whole
//! hundredths (`*_centi`, BIGINT): exact on PostgreSQL and SQLite alike.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Evaluations {
    Table,
    Id,
    Title,
    Kind,
    FrameworkVersion,
    State,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    PreviousEvaluation,
    EvaluationDate,
    Imported,
    ImportedEvaluatorNames,
    PublishTime,
    SealDigest,
    SealTime,
    PublishedContent,
}

#[derive(DeriveIden)]
enum Scores {
    Table,
    EvaluationId,
    QuestionId,
    EvaluatorId,
    PointsCenti,
    Comment,
    Evidence,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgreedScores {
    Table,
    EvaluationId,
    QuestionId,
    PointsCenti,
    Comment,
    AgreedBy,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    EvaluationId,
    Actor,
    Time,
    Subject,
    Target,
    OldValue,
    NewValue,
    Reason,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Topic,
    Payload,
    CreatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum Evidence {
    Table,
    Id,
    EvaluationId,
    Kind,
    Date,
    Questions,
    Notes,
    Details,
    FileContent,
    CarriedOverFrom,
    Creator,
    Version,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InformationRequests {
    Table,
    Id,
    EvaluationId,
    Kind,
    Description,
    Questions,
    DueDate,
    State,
    Turns,
    RequestedBy,
    Version,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Narratives {
    Table,
    EvaluationId,
    AreaId,
    GeneralText,
    HeadingTexts,
    Strengths,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Opportunities {
    Table,
    Id,
    EvaluationId,
    AreaId,
    Text,
    Questions,
    Position,
    FollowsUp,
    Version,
    CreatedAt,
}

fn id(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).string_len(64).not_null().to_owned()
}
fn text(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).text().not_null().default("").to_owned()
}
fn json_list(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).text().not_null().default("[]").to_owned()
}
fn version(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().default(1).to_owned()
}
fn time(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Evaluations::Table)
                .if_not_exists()
                .col(id(Evaluations::Id).primary_key())
                .col(ColumnDef::new(Evaluations::Title).string().not_null())
                .col(ColumnDef::new(Evaluations::Kind).string_len(32).not_null())
                .col(ColumnDef::new(Evaluations::FrameworkVersion).string().not_null())
                .col(ColumnDef::new(Evaluations::State).string_len(16).not_null())
                .col(version(Evaluations::Version))
                .col(ColumnDef::new(Evaluations::CreatedBy).string_len(63).not_null())
                .col(time(Evaluations::CreatedAt))
                .col(time(Evaluations::UpdatedAt))
                .col(ColumnDef::new(Evaluations::PreviousEvaluation).string_len(64).null())
                .col(ColumnDef::new(Evaluations::EvaluationDate).string_len(10).null())
                .col(ColumnDef::new(Evaluations::Imported).boolean().not_null().default(false))
                .col(json_list(Evaluations::ImportedEvaluatorNames))
                .col(ColumnDef::new(Evaluations::PublishTime).timestamp_with_time_zone().null())
                .col(ColumnDef::new(Evaluations::SealDigest).string_len(64).null())
                .col(ColumnDef::new(Evaluations::SealTime).timestamp_with_time_zone().null())
                .col(ColumnDef::new(Evaluations::PublishedContent).text().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Scores::Table)
                .if_not_exists()
                .col(id(Scores::EvaluationId))
                .col(ColumnDef::new(Scores::QuestionId).string_len(40).not_null())
                .col(ColumnDef::new(Scores::EvaluatorId).string_len(63).not_null())
                .col(ColumnDef::new(Scores::PointsCenti).big_integer().null())
                .col(text(Scores::Comment))
                .col(json_list(Scores::Evidence))
                .col(version(Scores::Version))
                .col(time(Scores::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(Scores::EvaluationId)
                        .col(Scores::QuestionId)
                        .col(Scores::EvaluatorId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AgreedScores::Table)
                .if_not_exists()
                .col(id(AgreedScores::EvaluationId))
                .col(ColumnDef::new(AgreedScores::QuestionId).string_len(40).not_null())
                .col(ColumnDef::new(AgreedScores::PointsCenti).big_integer().null())
                .col(text(AgreedScores::Comment))
                .col(ColumnDef::new(AgreedScores::AgreedBy).string_len(63).not_null())
                .col(version(AgreedScores::Version))
                .col(time(AgreedScores::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(AgreedScores::EvaluationId)
                        .col(AgreedScores::QuestionId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AuditEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(id(AuditEvents::EvaluationId))
                .col(ColumnDef::new(AuditEvents::Actor).string_len(63).not_null())
                .col(time(AuditEvents::Time))
                .col(ColumnDef::new(AuditEvents::Subject).string_len(32).not_null())
                .col(ColumnDef::new(AuditEvents::Target).string().not_null())
                .col(text(AuditEvents::OldValue))
                .col(text(AuditEvents::NewValue))
                .col(text(AuditEvents::Reason))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("audit_events_by_evaluation")
                .table(AuditEvents::Table)
                .col(AuditEvents::EvaluationId)
                .col(AuditEvents::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(id(Outbox::Id).primary_key())
                .col(ColumnDef::new(Outbox::Topic).string_len(64).not_null())
                .col(ColumnDef::new(Outbox::Payload).blob().not_null())
                .col(time(Outbox::CreatedAt))
                .col(ColumnDef::new(Outbox::PublishedAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Evidence::Table)
                .if_not_exists()
                .col(id(Evidence::Id).primary_key())
                .col(id(Evidence::EvaluationId))
                .col(ColumnDef::new(Evidence::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Evidence::Date).string_len(10).not_null().default(""))
                .col(json_list(Evidence::Questions))
                .col(text(Evidence::Notes))
                .col(ColumnDef::new(Evidence::Details).text().not_null().default("{}"))
                .col(ColumnDef::new(Evidence::FileContent).blob().null())
                .col(ColumnDef::new(Evidence::CarriedOverFrom).string().null())
                .col(ColumnDef::new(Evidence::Creator).string_len(63).not_null())
                .col(version(Evidence::Version))
                .col(time(Evidence::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InformationRequests::Table)
                .if_not_exists()
                .col(id(InformationRequests::Id).primary_key())
                .col(id(InformationRequests::EvaluationId))
                .col(ColumnDef::new(InformationRequests::Kind).string_len(16).not_null())
                .col(text(InformationRequests::Description))
                .col(json_list(InformationRequests::Questions))
                .col(ColumnDef::new(InformationRequests::DueDate).string_len(10).not_null())
                .col(ColumnDef::new(InformationRequests::State).string_len(16).not_null())
                .col(json_list(InformationRequests::Turns))
                .col(ColumnDef::new(InformationRequests::RequestedBy).string_len(63).not_null())
                .col(version(InformationRequests::Version))
                .col(time(InformationRequests::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Narratives::Table)
                .if_not_exists()
                .col(id(Narratives::EvaluationId))
                .col(ColumnDef::new(Narratives::AreaId).string_len(20).not_null())
                .col(text(Narratives::GeneralText))
                .col(json_list(Narratives::HeadingTexts))
                .col(json_list(Narratives::Strengths))
                .col(version(Narratives::Version))
                .col(time(Narratives::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(Narratives::EvaluationId)
                        .col(Narratives::AreaId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Opportunities::Table)
                .if_not_exists()
                .col(id(Opportunities::Id).primary_key())
                .col(id(Opportunities::EvaluationId))
                .col(ColumnDef::new(Opportunities::AreaId).string_len(20).not_null())
                .col(text(Opportunities::Text))
                .col(json_list(Opportunities::Questions))
                .col(ColumnDef::new(Opportunities::Position).integer().not_null().default(0))
                .col(ColumnDef::new(Opportunities::FollowsUp).string().null())
                .col(version(Opportunities::Version))
                .col(time(Opportunities::CreatedAt))
                .to_owned(),
        )
        .await?;
        for (name, table, col) in [
            ("evidence_by_evaluation", Evidence::Table.into_iden(), Evidence::EvaluationId.into_iden()),
            (
                "requests_by_evaluation",
                InformationRequests::Table.into_iden(),
                InformationRequests::EvaluationId.into_iden(),
            ),
            (
                "opportunities_by_evaluation",
                Opportunities::Table.into_iden(),
                Opportunities::EvaluationId.into_iden(),
            ),
        ] {
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Opportunities::Table.into_iden(),
            Narratives::Table.into_iden(),
            InformationRequests::Table.into_iden(),
            Evidence::Table.into_iden(),
            Outbox::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            AgreedScores::Table.into_iden(),
            Scores::Table.into_iden(),
            Evaluations::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
