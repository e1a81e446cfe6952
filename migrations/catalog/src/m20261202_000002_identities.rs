use sea_orm_migration::prelude::*;

/// Sign-in: invitations by e-mail, provider identities linked to users, and the
/// browser console's server-side sessions.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UserInvitations {
    Table,
    /// Lower-cased, so the look-up at sign-in is exact.
    Email,
    UserId,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
}

#[derive(DeriveIden)]
enum UserIdentities {
    Table,
    Issuer,
    Subject,
    UserId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    Data,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserInvitations::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(UserInvitations::Email)
                        .string_len(254)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(UserInvitations::UserId)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserInvitations::InvitedBy)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserInvitations::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserInvitations::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserInvitations::AcceptedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserInvitations::Table, UserInvitations::UserId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserIdentities::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(UserIdentities::Issuer)
                        .string_len(500)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserIdentities::Subject)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserIdentities::UserId)
                        .string_len(63)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserIdentities::Email)
                        .string_len(254)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserIdentities::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(UserIdentities::Issuer)
                        .col(UserIdentities::Subject),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(UserIdentities::Table, UserIdentities::UserId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("user_identities_by_user")
                .table(UserIdentities::Table)
                .col(UserIdentities::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ConsoleSessions::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(ConsoleSessions::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ConsoleSessions::Data).text().not_null())
                .col(
                    ColumnDef::new(ConsoleSessions::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("console_sessions_by_expiry")
                .table(ConsoleSessions::Table)
                .col(ConsoleSessions::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ConsoleSessions::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UserIdentities::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UserInvitations::Table).to_owned())
            .await
    }
}
