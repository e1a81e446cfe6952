use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};

use crate::{EventBus, EventError};

/// An outbox table a service owns in the tenant database (columns: id,
/// topic, payload, created_at, published_at).
#[derive(Debug, Clone, Copy)]
pub struct OutboxTable {
    pub table: &'static str,
    pub stream: &'static str,
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    // Written with $n placeholders; SQLite takes ?n the same way.
    let sql = if backend == DbBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Adds an event to the outbox inside the caller's transaction; returns its id.
pub async fn enqueue(
    tx: &impl ConnectionTrait,
    table: OutboxTable,
    topic: &str,
    payload: Vec<u8>,
) -> Result<String, sea_orm::DbErr> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.execute_raw(stmt(
        tx,
        &format!(
            "INSERT INTO {} (id, topic, payload, created_at) VALUES ($1, $2, $3, $4)",
            table.table
        ),
        vec![
            id.clone().into(),
            topic.into(),
            payload.into(),
            Utc::now().into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// Sends every unsent outbox row of one database, oldest first; a row is
/// marked sent only after the bus accepted it. Returns how many were sent.
///
/// On PostgreSQL the rows are claimed `FOR UPDATE SKIP LOCKED` in a
/// transaction, so relays in several replicas never publish the same row:
/// a second relay skips what the first holds. (SQLite has one process.)
pub async fn relay_outbox(
    db: &DatabaseConnection,
    table: OutboxTable,
    bus: &dyn EventBus,
) -> Result<usize, EventError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return relay_rows(db, table, bus, "").await;
    }
    let tx = db.begin().await?;
    let r = relay_rows(&tx, table, bus, " FOR UPDATE SKIP LOCKED").await;
    // What was published is marked sent even if a later row failed, so it
    // is not published again.
    tx.commit().await?;
    r
}

async fn relay_rows(
    db: &impl ConnectionTrait,
    table: OutboxTable,
    bus: &dyn EventBus,
    lock: &str,
) -> Result<usize, EventError> {
    let rows = db
        .query_all_raw(stmt(
            db,
            &format!(
                "SELECT id, topic, payload FROM {} WHERE published_at IS NULL ORDER BY id LIMIT 100{lock}",
                table.table
            ),
            vec![],
        ))
        .await?;
    let mut sent = 0;
    for r in rows {
        let id: String = r.try_get("", "id")?;
        let topic: String = r.try_get("", "topic")?;
        let payload: Vec<u8> = r.try_get("", "payload")?;
        bus.publish(table.stream, &id, &topic, &payload).await?;
        db.execute_raw(stmt(
            db,
            &format!("UPDATE {} SET published_at = $1 WHERE id = $2", table.table),
            vec![Utc::now().into(), id.into()],
        ))
        .await?;
        sent += 1;
    }
    Ok(sent)
}

/// Deletes the rows of one database that were sent more than `retention`
/// ago (an outbox is a queue, not an archive: the event stream and the
/// consumers' read models hold what was said); returns how many.
pub async fn purge_sent(
    db: &DatabaseConnection,
    table: OutboxTable,
    retention: std::time::Duration,
) -> Result<u64, EventError> {
    let cutoff =
        Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let r = db
        .execute_raw(stmt(
            db,
            &format!(
                "DELETE FROM {} WHERE published_at IS NOT NULL AND published_at < $1",
                table.table
            ),
            vec![cutoff.into()],
        ))
        .await?;
    Ok(r.rows_affected())
}
