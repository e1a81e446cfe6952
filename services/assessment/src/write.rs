//! The one write unit of the service. Every change to an evaluation's data
//! (its row, scores, agreed scores, evidence, information requests,
//! narratives, opportunities, assignments) goes through a [`Write`]:
//!
//! 1. a transaction on the tenant database that first locks the evaluation
//!    row — `SELECT … FOR UPDATE` on PostgreSQL; on SQLite, which has no row
//!    locks, a no-op `UPDATE` of the row takes the database's write lock at
//!    once, so writers are serialised from the first statement on;
//! 2. the state checked again on the row as locked (a check on the row read
//!    before the lock is only a fast path);
//! 3. versioned updates and deletes (`… WHERE version = expected`, ABORTED
//!    when another write came first) and the audit event, in the same
//!    transaction;
//! 4. the outbox event, if any, in the same transaction;
//! 5. commit, then waking the outbox relay if an event was queued.
//!
//! Publication takes the same lock and reads what it seals inside its own
//! transaction, so a write either lands before the seal (and is sealed) or
//! finds the evaluation PUBLISHED and stores nothing.

use chrono::Utc;
use kompass_catalog::relay::RelayHandle;
use kompass_core::{Error, Msg, TenantId};
use kompass_events::OutboxTable;
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DeleteMany, EntityTrait,
    QueryFilter, QuerySelect, Statement, UpdateMany,
};

use crate::Assessment;
use crate::access::{Eval, State};
use crate::audit::{self, Subject};
use crate::entity::evaluation;
use crate::util;

/// An open write on one evaluation, holding its lock until commit or drop
/// (a dropped write rolls back and stores nothing).
pub struct Write<'a> {
    tx: DatabaseTransaction,
    ev: &'a Eval,
    row: evaluation::Model,
    relay: RelayHandle,
    outbox: OutboxTable,
    queued: bool,
}

impl std::ops::Deref for Write<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

fn stale(what: &str) -> Error {
    Error::Aborted(Msg::new(
        format!(
            "{what} was changed by someone else since you read it; read it again and reapply your change"
        ),
        format!(
            "{what} har ändrats av någon annan sedan du läste den; läs igen och gör om ändringen"
        ),
    ))
}

impl<'a> Write<'a> {
    /// Begins a write on `ev`: opens the transaction and locks the
    /// evaluation row. NOT_FOUND if the evaluation is gone.
    pub async fn lock(st: &Assessment, ev: &'a Eval) -> Result<Write<'a>, Error> {
        let tx = kompass_tenant_db::begin_write(&*ev.db).await?;
        if tx.get_database_backend() == DbBackend::Sqlite {
            // Takes SQLite's write lock now rather than at the first real
            // write, so the state read below cannot go stale.
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "UPDATE evaluations SET id = id WHERE id = ?",
                [ev.row.id.clone().into()],
            ))
            .await?;
        }
        let row = evaluation::Entity::find_by_id(ev.row.id.as_str())
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| crate::access::no_evaluation(&ev.name()))?;
        Ok(Write {
            tx,
            ev,
            row,
            relay: st.relay.clone(),
            outbox: crate::OUTBOX,
            queued: false,
        })
    }

    /// Begins the write that creates `ev.row` (CreateEvaluation,
    /// ImportEvaluation): inserts it; the new row stays invisible to others,
    /// and locked, until commit.
    pub async fn insert(st: &Assessment, ev: &'a Eval) -> Result<Write<'a>, Error> {
        let tx = kompass_tenant_db::begin_write(&*ev.db).await?;
        let active: evaluation::ActiveModel = ev.row.clone().into();
        evaluation::Entity::insert(active).exec(&tx).await?;
        Ok(Write {
            tx,
            ev,
            row: ev.row.clone(),
            relay: st.relay.clone(),
            outbox: crate::OUTBOX,
            queued: false,
        })
    }

    /// The evaluation row as locked (and as changed by this write).
    pub fn row(&self) -> &evaluation::Model {
        &self.row
    }

    pub fn state(&self) -> State {
        State::parse(&self.row.state)
    }

    /// The state, checked on the locked row.
    pub fn require_state(&self, allowed: &[State], en: &str, sv: &str) -> Result<(), Error> {
        self.state().require(allowed, en, sv)
    }

    /// Not published or archived, checked on the locked row.
    pub fn require_open(&self) -> Result<(), Error> {
        self.state().require_open()
    }

    /// Versioned update of the evaluation row itself: `etag` must be its
    /// current version; bumps the version and `updated_at`.
    pub async fn update_evaluation(
        &mut self,
        etag: &str,
        set: Vec<(evaluation::Column, sea_orm::Value)>,
    ) -> Result<(), Error> {
        util::check_etag(etag, self.row.version, "the evaluation")?;
        let mut q = evaluation::Entity::update_many()
            .col_expr(evaluation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(evaluation::Column::Id.eq(self.row.id.as_str()));
        for (c, v) in set {
            q = q.col_expr(c, Expr::val(v));
        }
        self.update(
            q,
            evaluation::Column::Version,
            self.row.version,
            "the evaluation",
        )
        .await?;
        self.row = evaluation::Entity::find_by_id(self.row.id.as_str())
            .one(&self.tx)
            .await?
            .ok_or_else(|| Error::internal("evaluation vanished inside its own write"))?;
        Ok(())
    }

    /// Versioned update: sets `version` to `expected + 1` where it is still
    /// `expected`; ABORTED if no row matched (another write came first).
    pub async fn update<E: EntityTrait>(
        &self,
        q: UpdateMany<E>,
        version: E::Column,
        expected: i64,
        what: &str,
    ) -> Result<(), Error> {
        let res = q
            .col_expr(version, Expr::value(expected + 1))
            .filter(version.eq(expected).into_condition())
            .exec(&self.tx)
            .await?;
        if res.rows_affected == 0 {
            return Err(stale(what));
        }
        Ok(())
    }

    /// Versioned delete: removes the row only if its `version` is still
    /// `expected`; ABORTED otherwise.
    pub async fn delete<E: EntityTrait>(
        &self,
        q: DeleteMany<E>,
        version: E::Column,
        expected: i64,
        what: &str,
    ) -> Result<(), Error> {
        let res = q
            .filter(version.eq(expected).into_condition())
            .exec(&self.tx)
            .await?;
        if res.rows_affected == 0 {
            return Err(stale(what));
        }
        Ok(())
    }

    /// Appends the audit event of this write, by the caller.
    pub async fn audit(
        &self,
        subject: Subject,
        target: &str,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
        reason: &str,
    ) -> Result<(), Error> {
        audit::append(
            &self.tx,
            &self.row.id,
            self.ev.user.as_str(),
            subject,
            target,
            old,
            new,
            reason,
        )
        .await?;
        Ok(())
    }

    /// Queues an outbox event; the relay is woken after commit.
    pub async fn enqueue(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), Error> {
        kompass_events::enqueue(&self.tx, self.outbox, topic, payload).await?;
        self.queued = true;
        Ok(())
    }

    /// Commits; wakes the relay if an event was queued. Returns the row as
    /// committed.
    pub async fn commit(self) -> Result<evaluation::Model, Error> {
        self.tx.commit().await?;
        if self.queued {
            let tenant: &TenantId = &self.ev.tenant;
            self.relay.kick(tenant);
        }
        Ok(self.row)
    }
}
