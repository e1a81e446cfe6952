use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    DisplayName,
    Country,
    MunicipalityCode,
    Population,
    State,
    NamedInComparisons,
    DatabaseServer,
    DatabaseName,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    PlatformRoles,
    Language,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TenantId,
    UserId,
    Role,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Tenants::Id)
                        .string_len(41)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Tenants::DisplayName).string().not_null())
                .col(ColumnDef::new(Tenants::Country).string_len(2).not_null())
                .col(
                    ColumnDef::new(Tenants::MunicipalityCode)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(Tenants::Population).big_integer().not_null())
                .col(ColumnDef::new(Tenants::State).string_len(16).not_null())
                .col(
                    ColumnDef::new(Tenants::NamedInComparisons)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(Tenants::DatabaseServer)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Tenants::DatabaseName)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Tenants::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Tenants::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Users::Id)
                        .string_len(63)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Users::Email).string().not_null())
                .col(ColumnDef::new(Users::DisplayName).string().not_null())
                .col(
                    ColumnDef::new(Users::PlatformRoles)
                        .string()
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(Users::Language)
                        .string_len(2)
                        .not_null()
                        .default("sv"),
                )
                .col(
                    ColumnDef::new(Users::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Memberships::TenantId)
                        .string_len(41)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Memberships::UserId)
                        .string_len(63)
                        .not_null(),
                )
                .col(ColumnDef::new(Memberships::Role).string_len(16).not_null())
                .col(
                    ColumnDef::new(Memberships::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Memberships::TenantId)
                        .col(Memberships::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::TenantId)
                        .to(Tenants::Table, Tenants::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::UserId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("memberships_by_user")
                .table(Memberships::Table)
                .col(Memberships::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Memberships::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await
    }
}
