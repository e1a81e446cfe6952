use sea_orm_migration::prelude::*;

/// `users.delete_time`: a deactivated user keeps its row so audit trails
/// still resolve the name, but the auth layer refuses its tokens.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    DeleteTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column_if_not_exists(
                    ColumnDef::new(Users::DeleteTime)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::DeleteTime)
                .to_owned(),
        )
        .await
    }
}
