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
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Evaluations::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Evaluations::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Evaluations::Title).string().not_null())
                .col(ColumnDef::new(Evaluations::Kind).string_len(32).not_null())
                .col(
                    ColumnDef::new(Evaluations::FrameworkVersion)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Evaluations::State).string_len(16).not_null())
                .col(
                    ColumnDef::new(Evaluations::Version)
                        .big_integer()
                        .not_null()
                        .default(1),
                )
                .col(
                    ColumnDef::new(Evaluations::CreatedBy)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Evaluations::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Evaluations::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Evaluations::Table).to_owned())
            .await
    }
}
