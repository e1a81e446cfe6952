//! Moves committed outbox rows of tenant databases to the event bus. Kicked
//! right after a write that queued an event commits; retries failed tenants
//! every second; sweeps every active tenant at start and every few minutes,
//! so nothing committed is lost when Redis or the service restarts. Each
//! service runs one relay over its own outbox table.

use std::collections::BTreeSet;
use std::time::Duration;

use kompass_core::TenantId;
use kompass_events::{Bus, OutboxTable, purge_sent, relay_outbox};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::mpsc;

use crate::{TenantDirectory, TenantState, entity::tenant};

const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// How long sent outbox rows are kept, in seconds (`KOMPASS_OUTBOX_RETENTION_HOURS`,
/// set once at start); the sweep deletes older ones.
static RETENTION_SECS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(7 * 24 * 3600);

pub fn set_outbox_retention(d: Duration) {
    RETENTION_SECS.store(d.as_secs(), std::sync::atomic::Ordering::Relaxed);
}

fn retention() -> Duration {
    Duration::from_secs(RETENTION_SECS.load(std::sync::atomic::Ordering::Relaxed))
}

#[derive(Clone)]
pub struct RelayHandle(mpsc::UnboundedSender<TenantId>);

impl RelayHandle {
    pub fn kick(&self, t: &TenantId) {
        let _ = self.0.send(t.clone());
    }
}

/// Relays one tenant's outbox; `purge`: also deletes rows sent before the
/// retention period (done by the sweep, not after every write).
async fn relay_tenant(
    dir: &TenantDirectory,
    bus: &Bus,
    table: OutboxTable,
    t: &TenantId,
    purge: bool,
) -> bool {
    let db = match dir.db(t).await {
        Ok(db) => db,
        Err(e) => {
            tracing::warn!(tenant = %t, error = %e, "outbox relay: tenant database unavailable");
            return false;
        }
    };
    match relay_outbox(&db, table, bus.as_ref()).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(tenant = %t, events = n, "outbox relayed");
            }
            if purge {
                match purge_sent(&db, table, retention()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(tenant = %t, rows = n, "outbox: sent rows past retention deleted")
                    }
                    Err(e) => tracing::warn!(tenant = %t, error = %e, "outbox purge failed"),
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(tenant = %t, error = %e, "outbox relay failed; will retry");
            false
        }
    }
}

async fn sweep(
    dir: &TenantDirectory,
    bus: &Bus,
    table: OutboxTable,
    retry: &mut BTreeSet<TenantId>,
) {
    let Ok(rows) = tenant::Entity::find()
        .filter(tenant::Column::State.eq(TenantState::Active.as_str()))
        .all(dir.catalog.db())
        .await
    else {
        return;
    };
    for r in rows {
        if let Ok(t) = TenantId::parse(&r.id)
            && !relay_tenant(dir, bus, table, &t, true).await
        {
            retry.insert(t);
        }
    }
}

/// Starts the relay of one service's outbox table.
pub fn spawn(dir: TenantDirectory, bus: Bus, table: OutboxTable) -> RelayHandle {
    let (tx, mut rx) = mpsc::unbounded_channel::<TenantId>();
    tokio::spawn(async move {
        let mut retry = BTreeSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            tokio::select! {
                t = rx.recv() => {
                    let Some(t) = t else { break };
                    if !relay_tenant(&dir, &bus, table, &t, false).await {
                        retry.insert(t);
                    }
                }
                _ = tick.tick() => {
                    for t in std::mem::take(&mut retry) {
                        if !relay_tenant(&dir, &bus, table, &t, false).await {
                            retry.insert(t);
                        }
                    }
                    if tokio::time::Instant::now() >= next_sweep {
                        next_sweep = tokio::time::Instant::now() + SWEEP_EVERY;
                        sweep(&dir, &bus, table, &mut retry).await;
                    }
                }
            }
        }
    });
    RelayHandle(tx)
}
